import assert from 'node:assert/strict';
import { createHmac, timingSafeEqual } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { loadConfig } from '../src/config/config.js';
import { ManualClock } from '../src/core/clock.js';
import { Messages } from '../src/core/errors.js';
import { COUNTRY_NOT_ALLOWED, NOT_SENT, TOO_MANY_MESSAGES } from '../src/factors/sms/delivery.js';
import { PASSCODE_NOT_SENT } from '../src/factors/sms/login-passcode.js';
import { createSmsSender } from '../src/notify/create.js';
import { OutboxSmsSender } from '../src/notify/outbox.js';
import { SmsDeliveryError } from '../src/notify/sms-sender.js';
import { TwilioSmsSender } from '../src/notify/twilio.js';
import { SIGNATURE_HEADER, WebhookSmsSender } from '../src/notify/webhook.js';
import { accessOf, assertFault } from './support/api.js';
import {
  createAccount,
  createAdmin,
  createTestEnv,
  dialects,
  parseChallenge,
  passwordLogin,
  type Response,
  type TestEnv,
  type TestUser,
} from './support/harness.js';

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;
const T0 = Date.UTC(2026, 10, 22, 12, 0, 0);

// ---------------------------------------------------------------------------------------------
// A local HTTP server standing in for Twilio or a webhook receiver.

interface Received {
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
  body: string;
}

type Behaviour = { status: number; body?: string } | 'hang';

class StandIn {
  readonly received: Received[] = [];
  behaviour: Behaviour = { status: 201, body: '{"sid":"SM0123"}' };
  private readonly server = http.createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      this.received.push({
        method: request.method ?? '',
        url: request.url ?? '',
        headers: request.headers,
        body: Buffer.concat(chunks).toString('utf8'),
      });
      const behaviour = this.behaviour;
      if (behaviour === 'hang') return; // never answers: the client's timeout must fire
      response.writeHead(behaviour.status, { 'content-type': 'application/json' });
      response.end(behaviour.body ?? '{}');
    });
  });

  async start(): Promise<string> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  last(): Received {
    const last = this.received.at(-1);
    if (!last) throw new Error('nothing received');
    return last;
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

// ---------------------------------------------------------------------------------------------
// HTTP helpers.

const mfaPath = (user: TestUser) => `/v2.0/users/${user.id}/RAX-AUTH/multi-factor`;

async function addPhone(env: TestEnv, user: TestUser, number: string, token = user.token): Promise<string> {
  const response = await env.request('POST', `${mfaPath(user)}/mobile-phones`, {
    token,
    body: { 'RAX-AUTH:mobilePhone': { number } },
  });
  assert.equal(response.status, 201, response.text);
  return (response.body['RAX-AUTH:mobilePhone'] as { id: string }).id;
}

function sendPin(env: TestEnv, user: TestUser, phoneId: string): Promise<Response> {
  return env.request('POST', `${mfaPath(user)}/mobile-phones/${phoneId}/verificationcode`, {
    token: user.token,
  });
}

/** Verify the phone with the PIN `readPin` finds, and enable SMS MFA. */
async function verifyAndEnable(env: TestEnv, user: TestUser, phoneId: string, pin: string): Promise<void> {
  const verified = await env.request('POST', `${mfaPath(user)}/mobile-phones/${phoneId}/verify`, {
    token: user.token,
    body: { 'RAX-AUTH:verificationCode': { code: pin } },
  });
  assert.equal(verified.status, 204, verified.text);
  const enabled = await env.request('PUT', mfaPath(user), {
    token: user.token,
    body: { 'RAX-AUTH:multiFactor': { enabled: true } },
  });
  assert.equal(enabled.status, 204, enabled.text);
}

/** A user with SMS MFA on, the PIN read from the fake sender. */
async function smsUser(env: TestEnv, admin: TestUser, number: string): Promise<TestUser> {
  const user = await createAccount(env, admin);
  const phoneId = await addPhone(env, user, number);
  assert.equal((await sendPin(env, user, phoneId)).status, 202);
  const pin = /(\d{4})$/.exec(env.sms.last(number)?.body ?? '')?.[1] ?? '';
  await verifyAndEnable(env, user, phoneId, pin);
  return user;
}

/** What a failed step 1 must not leave behind: an OS-MF session or a live passcode. */
async function leftovers(env: TestEnv, userId: string): Promise<{ sessions: number; codes: number }> {
  const sessions = await env.deps.db
    .selectFrom('mfa_sessions')
    .select('hash')
    .where('user_id', '=', userId)
    .execute();
  const codes = await env.deps.db
    .selectFrom('one_time_codes')
    .select('purpose')
    .where('user_id', '=', userId)
    .where('purpose', '=', 'sms-login')
    .where('expires_at', '>', env.clock.now())
    .execute();
  return { sessions: sessions.length, codes: codes.length };
}

function assertOverLimit(response: Response, retryAfterSeconds: number): void {
  assertFault(response, 429, 'overLimit', TOO_MANY_MESSAGES);
  assert.equal(response.headers['retry-after'], String(retryAfterSeconds));
}

let numberCounter = 3000;
function freshNumber(): string {
  numberCounter += 1;
  return `+1415555${numberCounter}`;
}

// ---------------------------------------------------------------------------------------------
// The providers on their own.

describe('SMS providers', () => {
  let dir: string;
  before(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'latchkey-sms-'));
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  test('outbox: each message is one JSON line {to, body, sentAt}, appended; the directory is made', async () => {
    const clock = new ManualClock(T0);
    const file = path.join(dir, 'nested', 'outbox.jsonl');
    const outbox = new OutboxSmsSender(file, clock);
    await outbox.send({ to: '+12015550123', body: 'first' });
    clock.advance(1500);
    await outbox.send({ to: '+15125551000', body: 'second "quoted"\nline' });
    const lines = fs.readFileSync(file, 'utf8').split('\n');
    assert.equal(lines.at(-1), '');
    assert.deepEqual(
      lines.slice(0, -1).map((line) => JSON.parse(line)),
      [
        { to: '+12015550123', body: 'first', sentAt: '2026-11-22T12:00:00.000Z' },
        { to: '+15125551000', body: 'second "quoted"\nline', sentAt: '2026-11-22T12:00:01.500Z' },
      ],
    );
    // Message texts carry codes: the file is for its owner only.
    assert.equal(fs.statSync(file).mode & 0o077, 0);
  });

  test('the provider follows LATCHKEY_SMS_PROVIDER; the outbox is the default, in the data directory', () => {
    const clock = new ManualClock(T0);
    const base = { LATCHKEY_DATA_DIR: dir };
    const outbox = createSmsSender(loadConfig(base), clock);
    assert.equal(outbox.name, 'outbox');
    assert.equal(loadConfig(base).sms.outboxFile, path.join(dir, 'sms-outbox.jsonl'));
    const twilio = createSmsSender(
      loadConfig({
        ...base,
        LATCHKEY_SMS_PROVIDER: 'twilio',
        LATCHKEY_TWILIO_ACCOUNT_SID: 'AC1',
        LATCHKEY_TWILIO_AUTH_TOKEN: 'secret',
        LATCHKEY_TWILIO_FROM: '+15005550006',
      }),
      clock,
    );
    assert.equal(twilio.name, 'twilio');
    const webhook = createSmsSender(
      loadConfig({
        ...base,
        LATCHKEY_SMS_PROVIDER: 'webhook',
        LATCHKEY_SMS_WEBHOOK_URL: 'http://127.0.0.1:9/sms',
        LATCHKEY_SMS_WEBHOOK_SECRET: 'shh',
      }),
      clock,
    );
    assert.equal(webhook.name, 'webhook');
    assert.throws(
      () => loadConfig({ ...base, LATCHKEY_SMS_PROVIDER: 'twilio' }),
      /LATCHKEY_TWILIO_ACCOUNT_SID/,
    );
    assert.throws(
      () => loadConfig({ ...base, LATCHKEY_SMS_PROVIDER: 'webhook' }),
      /LATCHKEY_SMS_WEBHOOK_URL/,
    );
  });

  describe('twilio, against a local stand-in for its API', () => {
    const standIn = new StandIn();
    /** For the answers: a timeout no loaded machine reaches. */
    let sender: TwilioSmsSender;
    /** For the stand-in that never answers: the timeout is what is tested there. */
    let hasty: TwilioSmsSender;
    before(async () => {
      const url = await standIn.start();
      // Built from configuration, as the server builds it: LATCHKEY_TWILIO_API_URL points here.
      const withTimeout = (timeoutMs: string) =>
        createSmsSender(
          loadConfig({
            LATCHKEY_DATA_DIR: dir,
            LATCHKEY_SMS_PROVIDER: 'twilio',
            LATCHKEY_TWILIO_ACCOUNT_SID: 'AC0123456789abcdef',
            LATCHKEY_TWILIO_AUTH_TOKEN: 'auth-token-value',
            LATCHKEY_TWILIO_FROM: '+15005550006',
            LATCHKEY_TWILIO_API_URL: `${url}/`,
            LATCHKEY_SMS_TIMEOUT_MS: timeoutMs,
          }),
          new ManualClock(T0),
        ) as TwilioSmsSender;
      sender = withTimeout('10000');
      hasty = withTimeout('200');
    });
    after(() => standIn.stop());

    test('a message is a form POST to the Messages resource with basic auth', async () => {
      standIn.behaviour = { status: 201, body: '{"sid":"SM1"}' };
      await sender.send({ to: '+12015550123', body: 'Latchkey passcode (expires in 10 minutes): 1234567' });
      const request = standIn.last();
      assert.equal(request.method, 'POST');
      assert.equal(request.url, '/2010-04-01/Accounts/AC0123456789abcdef/Messages.json');
      const expectedAuth = `Basic ${Buffer.from('AC0123456789abcdef:auth-token-value').toString('base64')}`;
      assert.equal(request.headers.authorization, expectedAuth);
      assert.match(String(request.headers['content-type']), /^application\/x-www-form-urlencoded/);
      const form = new URLSearchParams(request.body);
      assert.deepEqual(Object.fromEntries(form), {
        To: '+12015550123',
        From: '+15005550006',
        Body: 'Latchkey passcode (expires in 10 minutes): 1234567',
      });
    });

    test('an error answer is a delivery error that names the status, not the message', async () => {
      standIn.behaviour = { status: 400, body: '{"message":"The To number +12015550123 is invalid"}' };
      await assert.rejects(sender.send({ to: '+12015550123', body: 'text 7654321' }), (error: unknown) => {
        assert.ok(error instanceof SmsDeliveryError);
        assert.equal(error.message, 'twilio answered 400');
        return true;
      });
    });

    test('no answer within LATCHKEY_SMS_TIMEOUT_MS is a delivery error', async () => {
      standIn.behaviour = 'hang';
      await assert.rejects(hasty.send({ to: '+12015550123', body: 'x' }), SmsDeliveryError);
    });

    test('an unreachable API is a delivery error', async () => {
      const unreachable = new TwilioSmsSender({
        accountSid: 'AC1',
        authToken: 't',
        from: '+15005550006',
        apiUrl: 'http://127.0.0.1:9',
        timeoutMs: 1000,
      });
      await assert.rejects(unreachable.send({ to: '+12015550123', body: 'x' }), SmsDeliveryError);
    });
  });

  describe('webhook, against a local receiver', () => {
    const standIn = new StandIn();
    let url: string;
    before(async () => {
      url = `${await standIn.start()}/sms`;
    });
    after(() => standIn.stop());

    /** What a receiver does: recompute the HMAC over "<t>.<raw body>" and compare. */
    function verifies(secret: string, header: string, body: string): boolean {
      const match = /^t=(\d+),v1=([0-9a-f]{64})$/.exec(header);
      if (!match?.[1] || !match[2]) return false;
      const expected = createHmac('sha256', secret).update(`${match[1]}.${body}`).digest();
      return timingSafeEqual(expected, Buffer.from(match[2], 'hex'));
    }

    test('the JSON body {to, body, sentAt} carries an HMAC signature the receiver can verify', async () => {
      const clock = new ManualClock(T0 + 1234);
      const sender = new WebhookSmsSender({ url, secret: 'webhook-secret', timeoutMs: 10_000 }, clock);
      standIn.behaviour = { status: 204 };
      await sender.send({ to: '+12015550123', body: 'Latchkey verification PIN: 1234' });
      const request = standIn.last();
      assert.equal(request.method, 'POST');
      assert.equal(request.url, '/sms');
      assert.match(String(request.headers['content-type']), /^application\/json/);
      assert.deepEqual(JSON.parse(request.body), {
        to: '+12015550123',
        body: 'Latchkey verification PIN: 1234',
        sentAt: '2026-11-22T12:00:01.234Z',
      });
      const signature = String(request.headers[SIGNATURE_HEADER]);
      assert.match(signature, new RegExp(`^t=${Math.floor((T0 + 1234) / 1000)},v1=`));
      assert.ok(verifies('webhook-secret', signature, request.body));
      // A forged body, a wrong secret or a moved timestamp does not verify.
      assert.ok(!verifies('webhook-secret', signature, request.body.replace('1234', '9999')));
      assert.ok(!verifies('other-secret', signature, request.body));
      assert.ok(!verifies('webhook-secret', signature.replace(/t=\d+/, 't=1'), request.body));
    });

    test('an error answer or no answer is a delivery error', async () => {
      // A generous timeout where an answer comes; a short one where the receiver never answers.
      const patient = new WebhookSmsSender({ url, secret: 's', timeoutMs: 10_000 }, new ManualClock(T0));
      const hasty = new WebhookSmsSender({ url, secret: 's', timeoutMs: 150 }, new ManualClock(T0));
      standIn.behaviour = { status: 500 };
      await assert.rejects(patient.send({ to: '+12015550123', body: 'x' }), /webhook answered 500/);
      standIn.behaviour = 'hang';
      await assert.rejects(hasty.send({ to: '+12015550123', body: 'x' }), SmsDeliveryError);
    });
  });
});

// ---------------------------------------------------------------------------------------------
// Provider failures seen through the API, and the toll-fraud limits.

for (const dialect of dialects()) {
  describe(`a failing SMS provider leaves nothing half-done (${dialect})`, () => {
    let env: TestEnv;
    let admin: TestUser;
    const standIn = new StandIn();
    /** Twilio stand-ins: a short timeout for the one that never answers, a generous one otherwise. */
    let hastyTwilio: TwilioSmsSender;
    let twilio: TwilioSmsSender;
    before(async () => {
      env = await createTestEnv({ dialect });
      admin = await createAdmin(env);
      const url = await standIn.start();
      const withTimeout = (timeoutMs: number) =>
        new TwilioSmsSender({
          accountSid: 'AC1',
          authToken: 'token',
          from: '+15005550006',
          apiUrl: url,
          timeoutMs,
        });
      hastyTwilio = withTimeout(150);
      twilio = withTimeout(10_000);
    });
    after(async () => {
      await env.close();
      await standIn.stop();
    });

    test('provider failure at step 1: 503, no session, no live passcode; the next step 1 works', async () => {
      const number = freshNumber();
      const user = await smsUser(env, admin, number);
      const sent = env.sms.sent.length;
      env.sms.failing = true;
      const failed = await passwordLogin(env, user.username, user.password);
      env.sms.failing = false;
      assertFault(failed, 503, 'serviceUnavailable', NOT_SENT);
      assert.equal(failed.headers['www-authenticate'], undefined);
      assert.deepEqual(await leftovers(env, user.id), { sessions: 0, codes: 0 });
      assert.equal(env.sms.sent.length, sent);

      const retried = await passwordLogin(env, user.username, user.password);
      const { sessionId } = parseChallenge(retried);
      const passcode = /(\d{7})$/.exec(env.sms.last(number)?.body ?? '')?.[1] ?? '';
      const done = await env.request('POST', '/v2.0/tokens', {
        headers: { 'X-SessionId': sessionId },
        body: { auth: { 'RAX-AUTH:passcodeCredentials': { passcode } } },
      });
      assert.deepEqual(accessOf(done).token['RAX-AUTH:authenticatedBy'], ['PASSCODE', 'PASSWORD']);
    });

    test('a failure at step 1 also voids the passcode of an earlier step 1', async () => {
      const number = freshNumber();
      const user = await smsUser(env, admin, number);
      const earlier = parseChallenge(await passwordLogin(env, user.username, user.password));
      const earlierCode = /(\d{7})$/.exec(env.sms.last(number)?.body ?? '')?.[1] ?? '';
      env.sms.failing = true;
      assert.equal((await passwordLogin(env, user.username, user.password)).status, 503);
      env.sms.failing = false;
      assert.equal((await leftovers(env, user.id)).codes, 0);
      const late = await env.request('POST', '/v2.0/tokens', {
        headers: { 'X-SessionId': earlier.sessionId },
        body: { auth: { 'RAX-AUTH:passcodeCredentials': { passcode: earlierCode } } },
      });
      assertFault(late, 401, 'unauthorized');
    });

    test('a provider that times out (Twilio stand-in): 503, nothing left; once it answers, login works', async () => {
      const number = freshNumber();
      const user = await smsUser(env, admin, number);
      const fake = env.deps.sms;
      env.deps.sms = hastyTwilio;
      try {
        standIn.behaviour = 'hang';
        const failed = await passwordLogin(env, user.username, user.password);
        assertFault(failed, 503, 'serviceUnavailable', NOT_SENT);
        assert.deepEqual(await leftovers(env, user.id), { sessions: 0, codes: 0 });

        env.deps.sms = twilio;
        standIn.behaviour = { status: 500 };
        assertFault(await passwordLogin(env, user.username, user.password), 503, 'serviceUnavailable');
        assert.deepEqual(await leftovers(env, user.id), { sessions: 0, codes: 0 });

        standIn.behaviour = { status: 201, body: '{"sid":"SM2"}' };
        const { sessionId } = parseChallenge(await passwordLogin(env, user.username, user.password));
        const form = new URLSearchParams(standIn.last().body);
        assert.equal(form.get('To'), number);
        const passcode = /(\d{7})$/.exec(form.get('Body') ?? '')?.[1] ?? '';
        const done = await env.request('POST', '/v2.0/tokens', {
          headers: { 'X-SessionId': sessionId },
          body: { auth: { 'RAX-AUTH:passcodeCredentials': { passcode } } },
        });
        assert.equal(done.status, 200, done.text);
      } finally {
        env.deps.sms = fake;
      }
    });

    test('failed sends do not count against the limits', async () => {
      const number = freshNumber();
      const user = await smsUser(env, admin, number);
      env.sms.failing = true;
      for (let i = 0; i < 8; i++) {
        assert.equal((await passwordLogin(env, user.username, user.password)).status, 503);
      }
      env.sms.failing = false;
      assert.equal((await passwordLogin(env, user.username, user.password)).status, 401);
    });

    test('a verification PIN that cannot be sent is 503, and the PIN sent before still works', async () => {
      const user = await createAccount(env, admin);
      const number = freshNumber();
      const phoneId = await addPhone(env, user, number);
      assert.equal((await sendPin(env, user, phoneId)).status, 202);
      const pin = /(\d{4})$/.exec(env.sms.last(number)?.body ?? '')?.[1] ?? '';
      env.sms.failing = true;
      assertFault(await sendPin(env, user, phoneId), 503, 'serviceUnavailable', NOT_SENT);
      env.sms.failing = false;
      await verifyAndEnable(env, user, phoneId, pin);
    });
  });

  describe(`SMS limits per number per 10 minutes (${dialect})`, () => {
    let env: TestEnv;
    let admin: TestUser;
    before(async () => {
      // Defaults: 5 per number per 10 minutes, 20 per day, 10 per user per hour.
      env = await createTestEnv({ dialect, clock: new ManualClock(T0) });
      admin = await createAdmin(env);
    });
    after(() => env.close());

    test('the sixth text to a number within 10 minutes is 429 with Retry-After until a slot frees', async () => {
      const user = await createAccount(env, admin);
      const phoneId = await addPhone(env, user, freshNumber());
      const start = env.clock.now();
      for (let i = 0; i < 5; i++) {
        assert.equal((await sendPin(env, user, phoneId)).status, 202, `send ${i + 1}`);
        env.clock.advance(MINUTE);
      }
      // Now start + 5 min; the first send frees its slot at start + 10 min.
      const sent = env.sms.sent.length;
      assertOverLimit(await sendPin(env, user, phoneId), 300);
      assert.equal(env.sms.sent.length, sent, 'nothing sent');
      env.clock.set(start + 10 * MINUTE - 1000);
      assertOverLimit(await sendPin(env, user, phoneId), 1);
      env.clock.set(start + 10 * MINUTE);
      assert.equal((await sendPin(env, user, phoneId)).status, 202);
      // Refused requests were not counted: the next slot is the second send's, at start + 11 min.
      assertOverLimit(await sendPin(env, user, phoneId), 60);
      assert.equal(env.sms.sent.length, sent + 1);
    });

    test('the limit is per number: two users of one number share it, another number is free', async () => {
      const number = freshNumber();
      const first = await createAccount(env, admin);
      const second = await createAccount(env, admin);
      const third = await createAccount(env, admin);
      const firstPhone = await addPhone(env, first, number);
      const secondPhone = await addPhone(env, second, number);
      const thirdPhone = await addPhone(env, third, freshNumber());
      for (let i = 0; i < 3; i++) assert.equal((await sendPin(env, first, firstPhone)).status, 202);
      for (let i = 0; i < 2; i++) assert.equal((await sendPin(env, second, secondPhone)).status, 202);
      assertOverLimit(await sendPin(env, second, secondPhone), 600);
      assertOverLimit(await sendPin(env, first, firstPhone), 600);
      assert.equal((await sendPin(env, third, thirdPhone)).status, 202);
    });

    test('regression: step 1 over the SMS limit was 429 with no session, so a bypass code could not be used', async () => {
      const number = freshNumber();
      const user = await smsUser(env, admin, number); // one text: the PIN
      for (let i = 0; i < 4; i++) {
        assert.equal((await passwordLogin(env, user.username, user.password)).status, 401);
      }
      await env.deps.db.deleteFrom('mfa_sessions').where('user_id', '=', user.id).execute();
      await env.deps.db.deleteFrom('one_time_codes').where('user_id', '=', user.id).execute();
      const bypass = await env.request('POST', `${mfaPath(user)}/bypass-codes`, {
        token: admin.token,
        body: { 'RAX-AUTH:bypassCodes': { numberOfCodes: 1 } },
      });
      const [bypassCode] = (bypass.body['RAX-AUTH:bypassCodes'] as { codes: string[] }).codes;
      const sent = env.sms.sent.length;
      // The challenge still comes, says that no new code was sent, and texts nothing.
      const limited = await passwordLogin(env, user.username, user.password);
      const { sessionId, factor } = parseChallenge(limited);
      assert.equal(factor, 'PASSCODE');
      assertFault(limited, 401, 'unauthorized', `${Messages.challenge} ${PASSCODE_NOT_SENT}`);
      assert.equal(env.sms.sent.length, sent);
      assert.deepEqual(await leftovers(env, user.id), { sessions: 1, codes: 0 });
      // The refusal is an event.
      const refusals = await env.deps.db
        .selectFrom('security_events')
        .select(['count', 'detail'])
        .where('type', '=', 'sms.rate_limited')
        .where('user_id', '=', user.id)
        .execute();
      assert.equal(refusals.length, 1);
      // A user who lost the phone completes the login with a bypass code.
      const completed = await env.request('POST', '/v2.0/tokens', {
        headers: { 'X-SessionId': sessionId },
        body: { auth: { 'RAX-AUTH:passcodeCredentials': { passcode: bypassCode } } },
      });
      assert.deepEqual(accessOf(completed).token['RAX-AUTH:authenticatedBy'], ['PASSCODE', 'PASSWORD']);
      env.clock.advance(10 * MINUTE);
      const again = await passwordLogin(env, user.username, user.password);
      assertFault(again, 401, 'unauthorized', Messages.challenge);
      assert.equal(env.sms.sent.length, sent + 1);
    });
  });

  describe(`SMS limits per number per day (${dialect})`, () => {
    let env: TestEnv;
    let admin: TestUser;
    before(async () => {
      env = await createTestEnv({
        dialect,
        clock: new ManualClock(T0),
        env: {
          LATCHKEY_SMS_MAX_PER_NUMBER_10MIN: '2',
          LATCHKEY_SMS_MAX_PER_NUMBER_DAY: '3',
          LATCHKEY_SMS_MAX_PER_USER_HOUR: '100',
          // Tokens outlive the day the test waits.
          LATCHKEY_TOKEN_TTL_SECONDS: '172800',
        },
      });
      admin = await createAdmin(env);
    });
    after(() => env.close());

    test('past the daily count a number gets nothing until the oldest send is a day old', async () => {
      const user = await createAccount(env, admin);
      const phoneId = await addPhone(env, user, freshNumber());
      const start = env.clock.now();
      assert.equal((await sendPin(env, user, phoneId)).status, 202);
      assert.equal((await sendPin(env, user, phoneId)).status, 202);
      assertOverLimit(await sendPin(env, user, phoneId), 600); // the 10-minute limit
      env.clock.advance(10 * MINUTE);
      assert.equal((await sendPin(env, user, phoneId)).status, 202);
      // Three today: the fourth waits until the first two (at start) are a day old.
      assertOverLimit(await sendPin(env, user, phoneId), (DAY - 10 * MINUTE) / 1000);
      env.clock.set(start + DAY - 1000);
      assertOverLimit(await sendPin(env, user, phoneId), 1);
      env.clock.set(start + DAY);
      assert.equal((await sendPin(env, user, phoneId)).status, 202);
    });
  });

  describe(`SMS limits, several at once (${dialect})`, () => {
    let env: TestEnv;
    let admin: TestUser;
    before(async () => {
      env = await createTestEnv({
        dialect,
        clock: new ManualClock(T0),
        env: {
          LATCHKEY_SMS_MAX_PER_NUMBER_10MIN: '2',
          LATCHKEY_SMS_MAX_PER_NUMBER_DAY: '2',
          LATCHKEY_TOKEN_TTL_SECONDS: '172800',
        },
      });
      admin = await createAdmin(env);
    });
    after(() => env.close());

    test('Retry-After names the longest of the limits exceeded, not the first one checked', async () => {
      const user = await createAccount(env, admin);
      const phoneId = await addPhone(env, user, freshNumber());
      const start = env.clock.now();
      assert.equal((await sendPin(env, user, phoneId)).status, 202);
      assert.equal((await sendPin(env, user, phoneId)).status, 202);
      // Both the 10-minute and the daily limit are full; only the day's end frees a send.
      assertOverLimit(await sendPin(env, user, phoneId), DAY / 1000);
      env.clock.set(start + 10 * MINUTE);
      assertOverLimit(await sendPin(env, user, phoneId), (DAY - 10 * MINUTE) / 1000);
      env.clock.set(start + DAY);
      assert.equal((await sendPin(env, user, phoneId)).status, 202);
    });
  });

  describe(`SMS limits per user per hour (${dialect})`, () => {
    let env: TestEnv;
    let admin: TestUser;
    before(async () => {
      env = await createTestEnv({
        dialect,
        clock: new ManualClock(T0),
        env: {
          LATCHKEY_SMS_MAX_PER_USER_HOUR: '3',
          LATCHKEY_SMS_MAX_PER_NUMBER_10MIN: '100',
          LATCHKEY_SMS_MAX_PER_NUMBER_DAY: '100',
        },
      });
      admin = await createAdmin(env);
    });
    after(() => env.close());

    test('a user gets 3 texts an hour, whatever the number; other users are not held up', async () => {
      const user = await createAccount(env, admin);
      const other = await createAccount(env, admin);
      const number = freshNumber();
      const start = env.clock.now();
      const phoneId = await addPhone(env, user, number);
      assert.equal((await sendPin(env, user, phoneId)).status, 202);
      env.clock.advance(20 * MINUTE);
      assert.equal((await sendPin(env, user, phoneId)).status, 202);
      assert.equal((await sendPin(env, user, phoneId)).status, 202);
      // A new number does not reset the user's count.
      const replaced = await addPhone(env, user, freshNumber());
      assertOverLimit(await sendPin(env, user, replaced), 40 * 60);
      // Another user, even on the same number, still gets texts.
      const otherPhone = await addPhone(env, other, number);
      assert.equal((await sendPin(env, other, otherPhone)).status, 202);
      env.clock.set(start + HOUR);
      assert.equal((await sendPin(env, user, replaced)).status, 202);
      assertOverLimit(await sendPin(env, user, replaced), 20 * 60);
    });
  });

  describe(`SMS country allow-list (${dialect})`, () => {
    let env: TestEnv;
    let admin: TestUser;
    before(async () => {
      env = await createTestEnv({ dialect });
      admin = await createAdmin(env);
    });
    after(() => env.close());

    test('a text to a country that is no longer allowed is 400, nothing sent, no session', async () => {
      const french = '+33612345678';
      const user = await smsUser(env, admin, french);
      const unverified = await createAccount(env, admin);
      const phoneId = await addPhone(env, unverified, '+33 6 12 34 56 79');
      env.deps.config.sms.allowedCountries = ['US', 'CA'];
      try {
        const sent = env.sms.sent.length;
        assertFault(await sendPin(env, unverified, phoneId), 400, 'badRequest', COUNTRY_NOT_ALLOWED);
        const login = await passwordLogin(env, user.username, user.password);
        assertFault(login, 400, 'badRequest', COUNTRY_NOT_ALLOWED);
        assert.equal(env.sms.sent.length, sent);
        assert.deepEqual(await leftovers(env, user.id), { sessions: 0, codes: 0 });
        env.deps.config.sms.allowedCountries = ['FR'];
        assert.equal((await passwordLogin(env, user.username, user.password)).status, 401);
      } finally {
        env.deps.config.sms.allowedCountries = [];
      }
    });
  });
}
