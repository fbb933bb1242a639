import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Messages } from '../src/core/errors.js';
import { NOT_SENT } from '../src/factors/sms/delivery.js';
import { TemporaryCodeMessages } from '../src/factors/temporary-code.js';
import { accessOf, assertFault, tokenOf } from './support/api.js';
import {
  createAccount,
  createAdmin,
  createTestEnv,
  createUserVia,
  dialects,
  parseChallenge,
  passwordLogin,
  type Response,
  type TestEnv,
  type TestUser,
} from './support/harness.js';

const MINUTE = 60_000;
const mfaPath = (user: TestUser) => `/v2.0/users/${user.id}/RAX-AUTH/multi-factor`;

let numberCounter = 4000;
function freshNumber(): string {
  numberCounter += 1;
  return `+1201555${numberCounter}`;
}

async function addPhone(env: TestEnv, user: TestUser, number: string): Promise<string> {
  const response = await env.request('POST', `${mfaPath(user)}/mobile-phones`, {
    token: user.token,
    body: { 'RAX-AUTH:mobilePhone': { number } },
  });
  assert.equal(response.status, 201, response.text);
  return (response.body['RAX-AUTH:mobilePhone'] as { id: string }).id;
}

async function verifyPhone(env: TestEnv, user: TestUser, phoneId: string, number: string): Promise<void> {
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
}

/** A user with a verified phone and SMS MFA enabled (which revokes its password token). */
async function smsUser(env: TestEnv, creator: TestUser): Promise<{ user: TestUser; number: string }> {
  const user = await createUserVia(env, creator, 'sms');
  const number = freshNumber();
  await verifyPhone(env, user, await addPhone(env, user, number), number);
  const enabled = await env.request('PUT', mfaPath(user), {
    token: user.token,
    body: { 'RAX-AUTH:multiFactor': { enabled: true } },
  });
  assert.equal(enabled.status, 204, enabled.text);
  return { user, number };
}

function sendTemporaryCode(env: TestEnv, user: TestUser, token: string): Promise<Response> {
  return env.request('POST', `${mfaPath(user)}/temporary-code`, { token });
}

function temporaryCodeSentTo(env: TestEnv, number: string): string {
  const code = /^Latchkey temporary passcode \(expires in 5 minutes\): (\d{8})$/.exec(
    env.sms.last(number)?.body ?? '',
  )?.[1];
  if (!code) throw new Error(`no temporary code sent to ${number}`);
  return code;
}

function passcodeStep(env: TestEnv, sessionId: string, passcode: string): Promise<Response> {
  return env.request('POST', '/v2.0/tokens', {
    headers: { 'X-SessionId': sessionId },
    body: { auth: { 'RAX-AUTH:passcodeCredentials': { passcode } } },
  });
}

async function challenge(env: TestEnv, user: TestUser): Promise<string> {
  return parseChallenge(await passwordLogin(env, user.username, user.password)).sessionId;
}

for (const dialect of dialects()) {
  describe(`temporary code, API.md "Temporary code (ours)" (${dialect})`, () => {
    let env: TestEnv;
    let admin: TestUser;
    let owner: TestUser;
    before(async () => {
      env = await createTestEnv({ dialect });
      admin = await createAdmin(env);
      owner = await createAccount(env, admin);
    });
    after(() => env.close());

    test('an administrator sends one: 202 with the masked number and the expiry; 8 digits by SMS', async () => {
      const { user, number } = await smsUser(env, owner);
      const before = env.sms.sent.length;
      const response = await sendTemporaryCode(env, user, admin.token);
      assert.equal(response.status, 202, response.text);
      assert.deepEqual(response.body, {
        'RAX-AUTH:temporaryCode': {
          sentTo: `+1******${number.slice(-4)}`,
          expires: new Date(env.clock.now() + 5 * MINUTE).toISOString(),
        },
      });
      assert.equal(env.sms.sent.length, before + 1);
      assert.equal(env.sms.last()?.to, number);
      assert.match(temporaryCodeSentTo(env, number), /^\d{8}$/);
    });

    test('the user enters it as the passcode of step 2, once', async () => {
      const { user, number } = await smsUser(env, owner);
      assert.equal((await sendTemporaryCode(env, user, admin.token)).status, 202);
      const code = temporaryCodeSentTo(env, number);
      const sessionId = await challenge(env, user);
      const before = await env.deps.db
        .selectFrom('security_events')
        .select((eb) => eb.fn.max('id').as('last'))
        .executeTakeFirstOrThrow();
      const access = accessOf(await passcodeStep(env, sessionId, code));
      assert.deepEqual(access.token['RAX-AUTH:authenticatedBy'], ['PASSCODE', 'PASSWORD']);
      // Regression: the login was recorded twice, once as if the code were a login of its own.
      const recorded = await env.deps.db
        .selectFrom('security_events')
        .select('type')
        .where('user_id', '=', user.id)
        .where('id', '>', Number(before.last ?? 0))
        .where('type', 'in', ['login.succeeded', 'temporary_code.used'])
        .execute();
      assert.deepEqual(recorded.map((event) => event.type).sort(), [
        'login.succeeded',
        'temporary_code.used',
      ]);
      const again = await passcodeStep(env, await challenge(env, user), code);
      assertFault(again, 401, 'unauthorized', Messages.wrongPasscode);
    });

    test('it lives 5 minutes', async () => {
      const { user, number } = await smsUser(env, owner);
      await sendTemporaryCode(env, user, admin.token);
      const code = temporaryCodeSentTo(env, number);
      env.clock.advance(5 * MINUTE - 1);
      const inTime = await passcodeStep(env, await challenge(env, user), code);
      assert.equal(inTime.status, 200, inTime.text);

      await sendTemporaryCode(env, user, admin.token);
      const late = temporaryCodeSentTo(env, number);
      env.clock.advance(5 * MINUTE);
      const response = await passcodeStep(env, await challenge(env, user), late);
      assertFault(response, 401, 'unauthorized', Messages.wrongPasscode);
    });

    test('a new temporary code replaces the previous one', async () => {
      const { user, number } = await smsUser(env, owner);
      await sendTemporaryCode(env, user, admin.token);
      const first = temporaryCodeSentTo(env, number);
      await sendTemporaryCode(env, user, admin.token);
      const second = temporaryCodeSentTo(env, number);
      if (first !== second) {
        const stale = await passcodeStep(env, await challenge(env, user), first);
        assertFault(stale, 401, 'unauthorized', Messages.wrongPasscode);
      }
      assert.equal((await passcodeStep(env, await challenge(env, user), second)).status, 200);
    });

    test('the account owner may send one to its sub-user; the event names both', async () => {
      const { user } = await smsUser(env, owner);
      const response = await sendTemporaryCode(env, user, owner.token);
      assert.equal(response.status, 202, response.text);
      const event = await env.deps.db
        .selectFrom('security_events')
        .selectAll()
        .where('user_id', '=', user.id)
        .where('type', '=', 'temporary_code.sent')
        .executeTakeFirstOrThrow();
      assert.equal(event.actor_id, owner.id);
      assert.equal(event.domain_id, owner.domainId);
      const detail = JSON.parse(event.detail) as Record<string, unknown>;
      assert.equal(detail.sentTo, (response.body['RAX-AUTH:temporaryCode'] as { sentTo: string }).sentTo);
      assert.ok(!/\d{8}/.test(event.detail), 'no code in the event');
    });

    test('not to oneself: 403, even for an administrator', async () => {
      const { user } = await smsUser(env, owner);
      // Its password token was revoked by enabling MFA; log in with MFA to get one.
      const sessionId = await challenge(env, user);
      const own = tokenOf(
        await passcodeStep(env, sessionId, /(\d{7})$/.exec(env.sms.last()?.body ?? '')?.[1] ?? ''),
      );
      assertFault(await sendTemporaryCode(env, user, own), 403, 'forbidden', TemporaryCodeMessages.self);
      assertFault(await sendTemporaryCode(env, owner, owner.token), 403, 'forbidden');
      assertFault(await sendTemporaryCode(env, admin, admin.token), 403, 'forbidden');
    });

    test('without precedence: 403; unknown user: 404; no token: 401', async () => {
      const { user } = await smsUser(env, owner);
      const stranger = await createAccount(env, admin);
      const sibling = await createUserVia(env, owner, 'sibling');
      assertFault(await sendTemporaryCode(env, user, stranger.token), 403, 'forbidden');
      assertFault(await sendTemporaryCode(env, user, sibling.token), 403, 'forbidden');
      assertFault(await sendTemporaryCode(env, owner, sibling.token), 403, 'forbidden');
      const ghost = { ...user, id: '0123456789abcdef0123456789abcdef' };
      assertFault(await sendTemporaryCode(env, ghost, admin.token), 404, 'itemNotFound');
      const anonymous = await env.request('POST', `${mfaPath(user)}/temporary-code`);
      assertFault(anonymous, 401, 'unauthorized');
    });

    test('a SETUP-MFA token: 403', async () => {
      const user = await createUserVia(env, owner, 'setup');
      await env.deps.db
        .updateTable('users')
        .set({ mfa_enforcement: 'REQUIRED' })
        .where('id', '=', user.id)
        .execute();
      const number = freshNumber();
      await verifyPhone(env, user, await addPhone(env, user, number), number);
      const scoped = tokenOf(
        await env.request('POST', '/v2.0/tokens', {
          body: {
            auth: {
              'RAX-AUTH:scope': 'SETUP-MFA',
              passwordCredentials: { username: user.username, password: user.password },
            },
          },
        }),
      );
      const before = env.sms.sent.length;
      assertFault(await sendTemporaryCode(env, user, scoped), 403, 'forbidden');
      assertFault(await sendTemporaryCode(env, owner, scoped), 403, 'forbidden', Messages.scopeForbids);
      assert.equal(env.sms.sent.length, before);
    });

    test('no verified phone: 400', async () => {
      const user = await createUserVia(env, owner, 'nophone');
      const none = await sendTemporaryCode(env, user, admin.token);
      assertFault(none, 400, 'badRequest', TemporaryCodeMessages.noVerifiedPhone);
      await addPhone(env, user, freshNumber());
      const unverified = await sendTemporaryCode(env, user, admin.token);
      assertFault(unverified, 400, 'badRequest', TemporaryCodeMessages.noVerifiedPhone);
    });

    test('a locked user: 400 until an administrator unlocks it', async () => {
      const { user } = await smsUser(env, owner);
      await env.deps.db
        .updateTable('users')
        .set({ mfa_failed_count: env.deps.config.lockoutThreshold, mfa_last_failed_at: env.clock.now() })
        .where('id', '=', user.id)
        .execute();
      const before = env.sms.sent.length;
      const locked = await sendTemporaryCode(env, user, admin.token);
      assertFault(locked, 400, 'badRequest', TemporaryCodeMessages.locked);
      assert.equal(env.sms.sent.length, before);
      const unlocked = await env.request('PUT', mfaPath(user), {
        token: admin.token,
        body: { 'RAX-AUTH:multiFactor': { unlock: true } },
      });
      assert.equal(unlocked.status, 204, unlocked.text);
      assert.equal((await sendTemporaryCode(env, user, admin.token)).status, 202);
    });

    test('wrong guesses at the temporary code count towards the lockout like any passcode', async () => {
      const { user, number } = await smsUser(env, owner);
      await sendTemporaryCode(env, user, admin.token);
      const code = temporaryCodeSentTo(env, number);
      const wrong = code === '12345678' ? '87654321' : '12345678';
      const sessionId = await challenge(env, user);
      for (let i = 1; i < env.deps.config.lockoutThreshold; i++) {
        assertFault(await passcodeStep(env, sessionId, wrong), 401, 'unauthorized', Messages.wrongPasscode);
      }
      assertFault(await passcodeStep(env, sessionId, wrong), 403, 'forbidden', Messages.locked);
      assertFault(await passcodeStep(env, sessionId, code), 403, 'forbidden', Messages.locked);
    });

    test('if the text cannot be sent: 503 and no live temporary code', async () => {
      const { user } = await smsUser(env, owner);
      env.sms.failing = true;
      try {
        assertFault(await sendTemporaryCode(env, user, admin.token), 503, 'serviceUnavailable', NOT_SENT);
      } finally {
        env.sms.failing = false;
      }
      const codes = await env.deps.db
        .selectFrom('one_time_codes')
        .select('purpose')
        .where('user_id', '=', user.id)
        .where('purpose', '=', 'temporary')
        .execute();
      assert.equal(codes.length, 0);
      const events = await env.deps.db
        .selectFrom('security_events')
        .select('type')
        .where('user_id', '=', user.id)
        .where('type', '=', 'temporary_code.sent')
        .execute();
      assert.equal(events.length, 0);
    });

    test('regression: temporary codes shared the login SMS limit; they have their own budget', async () => {
      const { user, number } = await smsUser(env, owner); // the PIN was text number 1
      // Step 1s use up the number's allowance (5 in 10 minutes)...
      for (let i = 0; i < 5; i++) await passwordLogin(env, user.username, user.password);
      const sessionId = await challenge(env, user);
      // ...but an administrator's temporary code still goes, and completes the login.
      assert.equal((await sendTemporaryCode(env, user, admin.token)).status, 202);
      const completed = await passcodeStep(env, sessionId, temporaryCodeSentTo(env, number));
      assert.equal(completed.status, 200, completed.text);
      // Temporary codes have a budget of their own: 5 per user per hour by default.
      for (let i = 0; i < 4; i++) assert.equal((await sendTemporaryCode(env, user, admin.token)).status, 202);
      const refused = await sendTemporaryCode(env, user, admin.token);
      assertFault(refused, 429, 'overLimit');
      assert.ok(Number(refused.headers['retry-after']) > 0);
      const events = await env.deps.db
        .selectFrom('security_events')
        .select(['detail', 'count'])
        .where('type', '=', 'sms.rate_limited')
        .where('user_id', '=', user.id)
        .execute();
      assert.deepEqual(
        events.map((event) => (JSON.parse(event.detail) as { budget: string }).budget).sort(),
        ['default', 'temporary'],
        'each refusal is recorded, per budget',
      );
    });
  });
}
