import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Messages } from '../src/core/errors.js';
import { accessOf, assertFault } from './support/api.js';
import {
  createAccount,
  createAdmin,
  createTestEnv,
  dialects,
  type TestEnv,
  type TestUser,
} from './support/harness.js';
import { enableOtp, enableSms, lastSmsPasscode, sendPasscode, startMfaLogin, totpAt } from './support/mfa.js';

let phones = 0;

/** An SMS user with a phone of its own who also has a verified authenticator (SMS stays the factor). */
async function smsUserWithAuthenticator(
  env: TestEnv,
  admin: TestUser,
): Promise<{ user: TestUser; secret: string; number: string }> {
  const user = await createAccount(env, admin);
  phones += 1;
  const number = `+1201555${String(phones).padStart(4, '0')}`;
  await enableSms(env, user, number);
  // Enabling MFA logged the user's password token out: the administrator adds the authenticator.
  const secret = await enableOtp(env, user, admin.token);
  return { user, secret, number };
}

const mfaPath = (user: TestUser) => `/v2.0/users/${user.id}/RAX-AUTH/multi-factor`;

for (const dialect of dialects()) {
  describe(`step 2 accepts only what the challenge named (${dialect})`, () => {
    let env: TestEnv;
    let admin: TestUser;
    before(async () => {
      env = await createTestEnv({ dialect });
      admin = await createAdmin(env);
    });
    after(() => env.close());

    test('regression: an SMS challenge accepted a code from an authenticator app', async () => {
      const { user, secret, number } = await smsUserWithAuthenticator(env, admin);
      const { sessionId, factor } = await startMfaLogin(env, user);
      assert.equal(factor, 'PASSCODE');
      const otp = await sendPasscode(env, sessionId, totpAt(secret, env.clock.now()));
      assertFault(otp, 401, 'unauthorized', Messages.wrongPasscode);
      const sms = await sendPasscode(env, sessionId, lastSmsPasscode(env, number));
      assert.deepEqual(accessOf(sms).token['RAX-AUTH:authenticatedBy'], ['PASSCODE', 'PASSWORD']);
    });

    test('regression: an SMS passcode opened a session other than the one it was sent for', async () => {
      const { user, number } = await smsUserWithAuthenticator(env, admin);
      const first = await startMfaLogin(env, user);
      const second = await startMfaLogin(env, user);
      const code = lastSmsPasscode(env, number);
      assertFault(await sendPasscode(env, first.sessionId, code), 401, 'unauthorized');
      assert.equal((await sendPasscode(env, second.sessionId, code)).status, 200);
    });

    test('regression: after a switch from SMS to OTP, the SMS passcode sent before it still opened an OTP challenge', async () => {
      const { user, secret, number } = await smsUserWithAuthenticator(env, admin);
      const before = await startMfaLogin(env, user);
      const smsCode = lastSmsPasscode(env, number);
      const switched = await env.request('PUT', mfaPath(user), {
        token: admin.token,
        body: { 'RAX-AUTH:multiFactor': { factorType: 'OTP' } },
      });
      assert.equal(switched.status, 204, switched.text);
      const after = await startMfaLogin(env, user);
      assert.equal(after.factor, 'OTPPASSCODE');
      assertFault(await sendPasscode(env, after.sessionId, smsCode), 401, 'unauthorized');
      // The session that named SMS is gone with the switch.
      assertFault(
        await sendPasscode(env, before.sessionId, smsCode),
        401,
        'unauthorized',
        Messages.sessionRejected,
      );
      const otp = await sendPasscode(env, after.sessionId, totpAt(secret, env.clock.now()));
      assert.deepEqual(accessOf(otp).token['RAX-AUTH:authenticatedBy'], ['OTPPASSCODE', 'PASSWORD']);
    });

    test('an OTP challenge refuses the SMS passcode of an earlier SMS challenge even without a switch in between', async () => {
      const { user, secret, number } = await smsUserWithAuthenticator(env, admin);
      await startMfaLogin(env, user);
      const smsCode = lastSmsPasscode(env, number);
      // The factor changes in the database directly, as a concurrent change could leave it.
      await env.deps.db.updateTable('users').set({ factor_type: 'OTP' }).where('id', '=', user.id).execute();
      const otpChallenge = await startMfaLogin(env, user);
      assertFault(await sendPasscode(env, otpChallenge.sessionId, smsCode), 401, 'unauthorized');
      assert.equal(
        (await sendPasscode(env, otpChallenge.sessionId, totpAt(secret, env.clock.now()))).status,
        200,
      );
    });

    test('disabling MFA burns the pending SMS passcode', async () => {
      const { user, number } = await smsUserWithAuthenticator(env, admin);
      const { sessionId } = await startMfaLogin(env, user);
      const code = lastSmsPasscode(env, number);
      const disabled = await env.request('PUT', mfaPath(user), {
        token: admin.token,
        body: { 'RAX-AUTH:multiFactor': { enabled: false } },
      });
      assert.equal(disabled.status, 204);
      const pending = await env.deps.db
        .selectFrom('one_time_codes')
        .select('purpose')
        .where('user_id', '=', user.id)
        .execute();
      assert.deepEqual(pending, []);
      const enabled = await env.request('PUT', mfaPath(user), {
        token: admin.token,
        body: { 'RAX-AUTH:multiFactor': { enabled: true, factorType: 'SMS' } },
      });
      assert.equal(enabled.status, 204, enabled.text);
      assertFault(await sendPasscode(env, sessionId, code), 401, 'unauthorized');
    });
  });
}
