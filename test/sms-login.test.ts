import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Messages } from '../src/core/errors.js';
import { OutboxSmsSender } from '../src/notify/outbox.js';
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

const mfaPath = (user: TestUser) => `/v2.0/users/${user.id}/RAX-AUTH/multi-factor`;

let numberCounter = 2000;
function freshNumber(): string {
  numberCounter += 1;
  return `+1512555${numberCounter}`;
}

/** A user with a verified phone and SMS MFA enabled, all over HTTP (PIN from the fake sender). */
async function smsUser(env: TestEnv, admin: TestUser): Promise<{ user: TestUser; number: string }> {
  const user = await createAccount(env, admin);
  const number = freshNumber();
  const added = await env.request('POST', `${mfaPath(user)}/mobile-phones`, {
    token: user.token,
    body: { 'RAX-AUTH:mobilePhone': { number } },
  });
  assert.equal(added.status, 201, added.text);
  const phoneId = (added.body['RAX-AUTH:mobilePhone'] as { id: string }).id;
  const sent = await env.request('POST', `${mfaPath(user)}/mobile-phones/${phoneId}/verificationcode`, {
    token: user.token,
  });
  assert.equal(sent.status, 202, sent.text);
  const pin = /(\d{4})$/.exec(env.sms.last(number)?.body ?? '')?.[1];
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
  return { user, number };
}

function lastPasscode(env: TestEnv, number: string): string {
  const code = /^Latchkey passcode \(expires in 10 minutes\): (\d{7})$/.exec(
    env.sms.last(number)?.body ?? '',
  )?.[1];
  if (!code) throw new Error(`no passcode sent to ${number}`);
  return code;
}

async function stepOne(env: TestEnv, user: TestUser): Promise<string> {
  const response = await passwordLogin(env, user.username, user.password);
  assert.equal(response.status, 401, response.text);
  return parseChallenge(response).sessionId;
}

function stepTwo(env: TestEnv, sessionHeader: string | undefined, passcode: string, extra = {}) {
  return env.request('POST', '/v2.0/tokens', {
    ...(sessionHeader === undefined ? {} : { headers: { 'X-SessionId': sessionHeader } }),
    body: { auth: { 'RAX-AUTH:passcodeCredentials': { passcode }, ...extra } },
  });
}

/** A 7-digit code that is not `code`. */
const otherThan = (code: string): string => (code === '1234567' ? '7654321' : '1234567');

function authenticatedBy(response: Response): string[] {
  return accessOf(response).token['RAX-AUTH:authenticatedBy'];
}

for (const dialect of dialects()) {
  describe(`SMS login, seed 004 (${dialect})`, () => {
    let env: TestEnv;
    let outbox: string;
    before(async () => {
      env = await createTestEnv({ dialect });
      outbox = path.join(env.dataDir, 'outbox', 'sms-outbox.jsonl');
      env.deps.sms = new OutboxSmsSender(outbox, env.clock);
    });
    after(() => env.close());

    function outboxLines(): { to: string; body: string; sentAt: string }[] {
      if (!fs.existsSync(outbox)) return [];
      return fs
        .readFileSync(outbox, 'utf8')
        .split('\n')
        .filter((line) => line !== '')
        .map((line) => JSON.parse(line) as { to: string; body: string; sentAt: string });
    }

    function lastOutboxCode(pattern: RegExp): string {
      const last = outboxLines().at(-1);
      const code = pattern.exec(last?.body ?? '')?.[1];
      if (!code) throw new Error(`outbox has no matching message: ${JSON.stringify(last)}`);
      return code;
    }

    test('the curl flow end to end: phone, PIN, enable, challenge, passcode from the outbox, token', async () => {
      const admin = await createAdmin(env);
      const user = await createAccount(env, admin);
      const logStart = env.logs.length;
      const base = mfaPath(user);

      const added = await env.request('POST', `${base}/mobile-phones`, {
        token: user.token,
        body: { 'RAX-AUTH:mobilePhone': { number: '+1 512-555-1000' } },
      });
      assert.equal(added.status, 201, added.text);
      const phone = added.body['RAX-AUTH:mobilePhone'] as { id: string; number: string };
      assert.equal(phone.number, '+15125551000');

      const pinSent = await env.request('POST', `${base}/mobile-phones/${phone.id}/verificationcode`, {
        token: user.token,
      });
      assert.equal(pinSent.status, 202);
      const pinLine = outboxLines().at(-1);
      assert.equal(pinLine?.to, '+15125551000');
      assert.equal(pinLine?.sentAt, new Date(env.clock.now()).toISOString());
      const pin = lastOutboxCode(/^Latchkey verification PIN: (\d{4})$/);

      const verified = await env.request('POST', `${base}/mobile-phones/${phone.id}/verify`, {
        token: user.token,
        body: { 'RAX-AUTH:verificationCode': { code: pin } },
      });
      assert.equal(verified.status, 204, verified.text);

      const enabled = await env.request('PUT', base, {
        token: user.token,
        body: { 'RAX-AUTH:multiFactor': { enabled: true } },
      });
      assert.equal(enabled.status, 204, enabled.text);

      // Step 1: the password alone gets the OS-MF challenge, and a passcode goes out by SMS.
      const challenge = await passwordLogin(env, user.username, user.password);
      assert.equal(challenge.status, 401);
      const header = String(challenge.headers['www-authenticate']);
      assert.match(header, /^OS-MF sessionId='[A-Za-z0-9_-]{40,}', factor='PASSCODE'$/);
      assert.deepEqual(challenge.body, {
        unauthorized: { code: 401, message: 'Additional authentication credentials required.' },
      });
      const { sessionId, factor } = parseChallenge(challenge);
      assert.equal(factor, 'PASSCODE');
      const passcodeLine = outboxLines().at(-1);
      assert.equal(passcodeLine?.to, '+15125551000');
      const passcode = lastOutboxCode(/^Latchkey passcode \(expires in 10 minutes\): (\d{7})$/);

      // Step 2: the passcode with the session id in X-SessionId.
      const second = await env.request('POST', '/v2.0/tokens', {
        headers: { 'X-SessionId': sessionId },
        body: { auth: { 'RAX-AUTH:passcodeCredentials': { passcode } } },
      });
      const access = accessOf(second);
      assert.deepEqual(access.token['RAX-AUTH:authenticatedBy'], ['PASSCODE', 'PASSWORD']);
      assert.equal(access.user['RAX-AUTH:multiFactorEnabled'], true);
      assert.equal(access.user.id, user.id);
      const validated = await env.request('GET', `/v2.0/tokens/${access.token.id}`, { token: admin.token });
      assert.equal(validated.status, 200);

      // No PIN, passcode, number or message text in any log line of the whole flow.
      const logs = env.logs.slice(logStart);
      assert.ok(logs.length > 0);
      assertNoneInLogs(logs, [pin, passcode, '+15125551000', '5125551000', '512-555-1000', 'Latchkey']);
    });
  });

  describe(`SMS login, passcode step (${dialect})`, () => {
    let env: TestEnv;
    let admin: TestUser;
    before(async () => {
      env = await createTestEnv({ dialect });
      admin = await createAdmin(env);
    });
    after(() => env.close());

    test('the passcode is 7 digits, sent at step 1 to the verified phone', async () => {
      const { user, number } = await smsUser(env, admin);
      const before = env.sms.sent.length;
      await stepOne(env, user);
      assert.equal(env.sms.sent.length, before + 1);
      assert.equal(env.sms.last()?.to, number);
      assert.match(lastPasscode(env, number), /^\d{7}$/);
    });

    test('the session id is consumed by success: reusing it is 401', async () => {
      const { user, number } = await smsUser(env, admin);
      const sessionId = await stepOne(env, user);
      const passcode = lastPasscode(env, number);
      assert.deepEqual(authenticatedBy(await stepTwo(env, sessionId, passcode)), ['PASSCODE', 'PASSWORD']);
      const reuse = await stepTwo(env, sessionId, passcode);
      assertFault(reuse, 401, 'unauthorized', Messages.sessionRejected);
    });

    test('the passcode is single use, even with a new session', async () => {
      const { user, number } = await smsUser(env, admin);
      const first = await stepOne(env, user);
      const passcode = lastPasscode(env, number);
      assert.equal((await stepTwo(env, first, passcode)).status, 200);
      // A step 1 sends a new code; the old one, already used, is no longer accepted.
      const second = await stepOne(env, user);
      const fresh = lastPasscode(env, number);
      if (fresh !== passcode) {
        assertFault(await stepTwo(env, second, passcode), 401, 'unauthorized', Messages.wrongPasscode);
      }
    });

    test('a new step 1 voids the previous passcode', async () => {
      const { user, number } = await smsUser(env, admin);
      const firstSession = await stepOne(env, user);
      const firstCode = lastPasscode(env, number);
      const secondSession = await stepOne(env, user);
      const secondCode = lastPasscode(env, number);
      if (firstCode !== secondCode) {
        assertFault(
          await stepTwo(env, secondSession, firstCode),
          401,
          'unauthorized',
          Messages.wrongPasscode,
        );
        assertFault(await stepTwo(env, firstSession, firstCode), 401, 'unauthorized', Messages.wrongPasscode);
      }
      assert.equal((await stepTwo(env, secondSession, secondCode)).status, 200);
    });

    test('the session id expires after 5 minutes', async () => {
      const { user, number } = await smsUser(env, admin);
      const sessionId = await stepOne(env, user);
      const passcode = lastPasscode(env, number);
      env.clock.advance(5 * 60_000);
      const late = await stepTwo(env, sessionId, passcode);
      assertFault(late, 401, 'unauthorized', Messages.sessionExpired);
      assert.equal(late.headers['www-authenticate'], undefined);
    });

    test('a session id one moment before its 5 minutes are up still works', async () => {
      const { user, number } = await smsUser(env, admin);
      const sessionId = await stepOne(env, user);
      env.clock.advance(5 * 60_000 - 1);
      assert.equal((await stepTwo(env, sessionId, lastPasscode(env, number))).status, 200);
    });

    test('no X-SessionId, or more than one, is 400 Invalid X-SessionId', async () => {
      const { user, number } = await smsUser(env, admin);
      const sessionId = await stepOne(env, user);
      const passcode = lastPasscode(env, number);
      assertFault(await stepTwo(env, undefined, passcode), 400, 'badRequest', Messages.invalidSessionId);
      assertFault(await stepTwo(env, '', passcode), 400, 'badRequest', Messages.invalidSessionId);
      // Two X-SessionId headers reach the server as one comma-joined value.
      const twice = await stepTwo(env, `${sessionId}, ${sessionId}`, passcode);
      assertFault(twice, 400, 'badRequest', Messages.invalidSessionId);
      // None of that spent the session or the code.
      assert.equal((await stepTwo(env, sessionId, passcode)).status, 200);
    });

    test('an unknown session id is 401 Can not authenticate with credentials provided', async () => {
      for (const sessionId of ['nonsense', 'A'.repeat(43), 'x'.repeat(600)]) {
        const response = await stepTwo(env, sessionId, '1234567');
        assertFault(response, 401, 'unauthorized', Messages.sessionRejected);
      }
    });

    test('a wrong passcode is 401 and the right one still works afterwards', async () => {
      const { user, number } = await smsUser(env, admin);
      const sessionId = await stepOne(env, user);
      const passcode = lastPasscode(env, number);
      assertFault(
        await stepTwo(env, sessionId, otherThan(passcode)),
        401,
        'unauthorized',
        Messages.wrongPasscode,
      );
      assertFault(await stepTwo(env, sessionId, 'abc'), 401, 'unauthorized', Messages.wrongPasscode);
      assert.equal((await stepTwo(env, sessionId, passcode)).status, 200);
    });

    test('a token id where the session id belongs is 401: it is not a session', async () => {
      const { user, number } = await smsUser(env, admin);
      await stepOne(env, user);
      const response = await stepTwo(env, admin.token, lastPasscode(env, number));
      assertFault(response, 401, 'unauthorized', Messages.sessionRejected);
    });

    test('six wrong SMS passcodes are 401; the seventh locks with 403, and then even the right one is 403', async () => {
      const { user, number } = await smsUser(env, admin);
      const sessionId = await stepOne(env, user);
      const passcode = lastPasscode(env, number);
      for (let attempt = 1; attempt < env.deps.config.lockoutThreshold; attempt++) {
        const response = await stepTwo(env, sessionId, otherThan(passcode));
        assertFault(response, 401, 'unauthorized', Messages.wrongPasscode);
      }
      assertFault(await stepTwo(env, sessionId, otherThan(passcode)), 403, 'forbidden', Messages.locked);
      assertFault(await stepTwo(env, sessionId, passcode), 403, 'forbidden', Messages.locked);
      const before = env.sms.sent.length;
      assertFault(
        await passwordLogin(env, user.username, user.password),
        401,
        'unauthorized',
        Messages.locked,
      );
      assert.equal(env.sms.sent.length, before);
    });

    test('a passcode for a user without MFA is 400 Unknown credential type', async () => {
      const { user, number } = await smsUser(env, admin);
      const sessionId = await stepOne(env, user);
      // MFA switched off behind the session's back (the API also drops open sessions).
      await env.deps.db
        .updateTable('users')
        .set({ mfa_enabled: 0, factor_type: null })
        .where('id', '=', user.id)
        .execute();
      const response = await stepTwo(env, sessionId, lastPasscode(env, number));
      assertFault(response, 400, 'badRequest', Messages.passcodeWithoutMfa);
      assert.match(
        String(response.body.badRequest?.message),
        /^Unknown credential type\. This user has no multi-factor/,
      );
    });

    test('RAX-AUTH:scope with a passcode is 403 SETUP-MFA SCOPE not supported', async () => {
      const { user, number } = await smsUser(env, admin);
      const sessionId = await stepOne(env, user);
      const response = await stepTwo(env, sessionId, lastPasscode(env, number), {
        'RAX-AUTH:scope': 'SETUP-MFA',
      });
      assertFault(response, 403, 'forbidden', Messages.scopeNotSupported);
    });

    test('the session id is not a token: as X-Auth-Token it is 401', async () => {
      const { user } = await smsUser(env, admin);
      const sessionId = await stepOne(env, user);
      const response = await env.request('GET', `/v2.0/users/${user.id}`, { token: sessionId });
      assertFault(response, 401, 'unauthorized');
    });

    test('a wrong password gets a plain 401 and sends nothing', async () => {
      const { user } = await smsUser(env, admin);
      const before = env.sms.sent.length;
      const response = await passwordLogin(env, user.username, 'Wrongpass1');
      assertFault(response, 401, 'unauthorized', Messages.badPassword);
      assert.equal(response.headers['www-authenticate'], undefined);
      assert.equal(env.sms.sent.length, before);
    });

    test('step 1 of a locked SMS user is 401 with the lockout message and sends no SMS', async () => {
      const { user } = await smsUser(env, admin);
      await env.deps.db
        .updateTable('users')
        .set({ mfa_failed_count: env.deps.config.lockoutThreshold, mfa_last_failed_at: env.clock.now() })
        .where('id', '=', user.id)
        .execute();
      const before = env.sms.sent.length;
      const response = await passwordLogin(env, user.username, user.password);
      assertFault(response, 401, 'unauthorized', Messages.locked);
      assert.equal(env.sms.sent.length, before);
    });

    test('concurrent step 1s all get a challenge (no 500), and one live passcode remains', async () => {
      const { user, number } = await smsUser(env, admin);
      const before = env.sms.sent.length;
      const responses = await Promise.all(
        [1, 2, 3, 4].map(() => passwordLogin(env, user.username, user.password)),
      );
      for (const response of responses) assert.equal(response.status, 401, response.text);
      const sessions = responses.map((response) => parseChallenge(response).sessionId);
      const live = await env.deps.db
        .selectFrom('one_time_codes')
        .select('purpose')
        .where('user_id', '=', user.id)
        .execute();
      assert.deepEqual(live, [{ purpose: 'sms-login' }]);
      // Exactly one of the codes sent is the live one, bound to the session it was sent for (texts
      // and answers may come in different orders: pair them by the stored keyed hash).
      const codes = env.sms.sent.slice(before).map((message) => /(\d{7})$/.exec(message.body)?.[1] ?? '');
      assert.equal(codes.length, 4);
      assert.ok(env.sms.sent.slice(before).every((message) => message.to === number));
      const stored = await env.deps.db
        .selectFrom('one_time_codes')
        .select('code_hash')
        .where('user_id', '=', user.id)
        .executeTakeFirstOrThrow();
      const pairs = sessions.flatMap((sessionId) =>
        codes
          .filter(
            (code) =>
              env.deps.keys.hashFor(`sms-login:${user.id}:${env.deps.keys.hash(sessionId)}`, code) ===
              stored.code_hash,
          )
          .map((code) => ({ sessionId, code })),
      );
      assert.equal(pairs.length, 1);
      const [pair] = pairs;
      assert.equal((await stepTwo(env, pair?.sessionId ?? '', pair?.code ?? '')).status, 200);
    });

    test('only a keyed hash of the passcode is stored', async () => {
      const { user, number } = await smsUser(env, admin);
      await stepOne(env, user);
      const passcode = lastPasscode(env, number);
      const rows = await env.deps.db
        .selectFrom('one_time_codes')
        .selectAll()
        .where('user_id', '=', user.id)
        .execute();
      assert.equal(rows.length, 1);
      assert.equal(rows[0]?.purpose, 'sms-login');
      assert.match(rows[0]?.code_hash ?? '', /^[0-9a-f]{64}$/);
      assert.ok(!JSON.stringify(rows).includes(passcode));
    });

    test('no PIN, passcode or number reaches the log, even when the provider fails', async () => {
      const logStart = env.logs.length;
      const { user, number } = await smsUser(env, admin);
      const pin = /(\d{4})$/.exec(
        env.sms.sent.filter((message) => message.to === number).at(-1)?.body ?? '',
      )?.[1];
      assert.ok(pin);
      const sessionId = await stepOne(env, user);
      const passcode = lastPasscode(env, number);
      await stepTwo(env, sessionId, otherThan(passcode));
      assert.equal((await stepTwo(env, sessionId, passcode)).status, 200);
      env.sms.failing = true;
      try {
        assert.equal((await passwordLogin(env, user.username, user.password)).status, 503);
      } finally {
        env.sms.failing = false;
      }
      const logs = env.logs.slice(logStart);
      assert.ok(logs.some((line) => line.includes('sms delivery failed')));
      assertNoneInLogs(logs, [pin, passcode, number, number.slice(2), 'Latchkey passcode', 'PIN:']);
    });
  });

  describe(`SMS login, passcode lifetime (${dialect})`, () => {
    let env: TestEnv;
    let admin: TestUser;
    before(async () => {
      // A session outliving the passcode, so the passcode's own 10 minutes can be seen.
      env = await createTestEnv({ dialect, env: { LATCHKEY_MFA_SESSION_TTL_SECONDS: '3600' } });
      admin = await createAdmin(env);
    });
    after(() => env.close());

    test('an SMS passcode 10 minutes old is refused', async () => {
      const { user, number } = await smsUser(env, admin);
      const sessionId = await stepOne(env, user);
      const passcode = lastPasscode(env, number);
      env.clock.advance(10 * 60_000);
      assertFault(await stepTwo(env, sessionId, passcode), 401, 'unauthorized', Messages.wrongPasscode);
    });

    test('an SMS passcode a moment under 10 minutes old is accepted', async () => {
      const { user, number } = await smsUser(env, admin);
      const sessionId = await stepOne(env, user);
      env.clock.advance(10 * 60_000 - 1);
      assert.equal((await stepTwo(env, sessionId, lastPasscode(env, number))).status, 200);
    });
  });
}

/**
 * Each needle must be absent from every log line. Lines are JSON: the fields pino adds itself
 * (time, pid, hostname) are numbers that could contain a short code by chance, so they go
 * first, and digits are matched only as whole numbers.
 */
function assertNoneInLogs(lines: string[], needles: string[]): void {
  for (const line of lines) {
    const parsed = JSON.parse(line) as Record<string, unknown>;
    delete parsed.time;
    delete parsed.pid;
    delete parsed.hostname;
    const text = JSON.stringify(parsed);
    for (const needle of needles) {
      const pattern = /^\d+$/.test(needle)
        ? new RegExp(`(?<!\\d)${needle}(?!\\d)`)
        : new RegExp(needle.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'));
      assert.ok(!pattern.test(text), `log line carries '${needle}': ${text}`);
    }
  }
}
