import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Messages } from '../src/core/errors.js';
import {
  createAccount,
  createAdmin,
  createTestEnv,
  dialects,
  passwordLogin,
  type TestEnv,
  type TestUser,
} from './support/harness.js';
import { enableOtp, sendPasscode, startMfaLogin, totpAt } from './support/mfa.js';
import { PanelClient } from './support/panel-client.js';

const WRONG = '000000';

async function otpUser(env: TestEnv, admin: TestUser): Promise<{ user: TestUser; secret: string }> {
  const user = await createAccount(env, admin);
  const secret = await enableOtp(env, user);
  return { user, secret };
}

/**
 * What the API's user object and the panel's user page say of the user's locks: the
 * multi-factor state (the API's RAX-AUTH:multiFactorState, the panel's badge) and whether the
 * password is locked (the API's RAX-AUTH:passwordLockedUntil, the panel's lock note).
 */
async function shownLocks(env: TestEnv, panel: PanelClient, reader: TestUser, user: TestUser) {
  const api = await env.request('GET', `/v2.0/users/${user.id}`, { token: reader.token });
  assert.equal(api.status, 200, api.text);
  const wire = api.body.user as Record<string, unknown>;
  const page = await panel.get(`/admin/accounts/${user.domainId}/users/${user.id}`);
  assert.equal(page.status, 200, page.body.slice(0, 300));
  const badge = /<span class="badge badge-(?:bad|on|off)">(LOCKED|On|Off)<\/span>/.exec(page.body)?.[1];
  return {
    api: {
      multiFactorState: wire['RAX-AUTH:multiFactorState'],
      passwordLocked: Object.hasOwn(wire, 'RAX-AUTH:passwordLockedUntil'),
    },
    panel: {
      multiFactorState: badge === 'LOCKED' ? 'LOCKED' : badge === 'On' ? 'ACTIVE' : badge,
      passwordLocked: page.body.includes('Too many wrong passwords'),
    },
  };
}

/** A wrong code that is surely not the current one (nor a neighbour). */
function wrongCode(secret: string, now: number): string {
  const near = new Set([-1, 0, 1].map((offset) => totpAt(secret, now + offset * 30_000)));
  return near.has(WRONG) ? '111111' : WRONG;
}

for (const dialect of dialects()) {
  describe(`lockout after repeated wrong passcodes (${dialect})`, () => {
    let env: TestEnv;
    let admin: TestUser;
    before(async () => {
      env = await createTestEnv({ dialect });
      admin = await createAdmin(env);
    });
    after(() => env.close());

    test('six wrong passcodes are tolerated and the seventh locks', async () => {
      const { user, secret } = await otpUser(env, admin);
      const { sessionId } = await startMfaLogin(env, user);
      for (let attempt = 1; attempt <= 6; attempt++) {
        const response = await sendPasscode(env, sessionId, wrongCode(secret, env.clock.now()));
        assert.equal(response.status, 401, `attempt ${attempt}`);
        assert.equal(response.body.unauthorized?.message, Messages.wrongPasscode);
      }
      const seventh = await sendPasscode(env, sessionId, wrongCode(secret, env.clock.now()));
      assert.equal(seventh.status, 403);
      assert.equal(seventh.body.forbidden?.message, Messages.locked);

      // Even the right code is refused now, and step 1 answers 401 with the lockout message.
      const right = await sendPasscode(env, sessionId, totpAt(secret, env.clock.now()));
      assert.equal(right.status, 403);
      const stepOne = await passwordLogin(env, user.username);
      assert.equal(stepOne.status, 401);
      assert.equal(stepOne.headers['www-authenticate'], undefined);
      assert.equal(stepOne.body.unauthorized?.message, Messages.locked);

      const shown = await env.request('GET', `/v2.0/users/${user.id}`, { token: admin.token });
      assert.equal(shown.body.user?.['RAX-AUTH:multiFactorState'], 'LOCKED');
    });

    test('a correct passcode resets the count of failures', async () => {
      const { user, secret } = await otpUser(env, admin);
      let { sessionId } = await startMfaLogin(env, user);
      for (let attempt = 1; attempt <= 6; attempt++) {
        assert.equal((await sendPasscode(env, sessionId, wrongCode(secret, env.clock.now()))).status, 401);
      }
      assert.equal((await sendPasscode(env, sessionId, totpAt(secret, env.clock.now()))).status, 200);
      env.clock.advance(30_000);
      ({ sessionId } = await startMfaLogin(env, user));
      for (let attempt = 1; attempt <= 6; attempt++) {
        assert.equal((await sendPasscode(env, sessionId, wrongCode(secret, env.clock.now()))).status, 401);
      }
      assert.equal((await sendPasscode(env, sessionId, totpAt(secret, env.clock.now()))).status, 200);
    });

    test('an administrator unlocks a locked user, who then logs in', async () => {
      const { user, secret } = await otpUser(env, admin);
      const { sessionId } = await startMfaLogin(env, user);
      for (let attempt = 1; attempt <= 7; attempt++)
        await sendPasscode(env, sessionId, wrongCode(secret, env.clock.now()));
      // Tokens the user already holds stay valid while it is locked (reference §12.4).
      const keyLogin = await env.request('POST', '/v2.0/tokens', {
        body: { auth: { 'RAX-KSKEY:apiKeyCredentials': { username: user.username, apiKey: user.apiKey } } },
      });
      assert.equal(keyLogin.status, 200, 'API-key login is not subject to the MFA lock');
      const keyToken = (keyLogin.body.access as { token: { id: string } }).token.id;
      assert.equal((await env.request('GET', `/v2.0/users/${user.id}`, { token: keyToken })).status, 200);
      const ownUnlock = await env.request('PUT', `/v2.0/users/${user.id}/RAX-AUTH/multi-factor`, {
        token: keyToken,
        body: { 'RAX-AUTH:multiFactor': { unlock: true } },
      });
      assert.equal(ownUnlock.status, 403, 'a user cannot unlock itself');

      const adminUnlock = await env.request('PUT', `/v2.0/users/${user.id}/RAX-AUTH/multi-factor`, {
        token: admin.token,
        body: { 'RAX-AUTH:multiFactor': { unlock: true } },
      });
      assert.equal(adminUnlock.status, 204);
      const shown = await env.request('GET', `/v2.0/users/${user.id}`, { token: admin.token });
      assert.equal(shown.body.user?.['RAX-AUTH:multiFactorState'], 'ACTIVE');
      const again = await startMfaLogin(env, user);
      assert.equal((await sendPasscode(env, again.sessionId, totpAt(secret, env.clock.now()))).status, 200);
    });

    test('60 concurrent wrong guesses never get more than the threshold judged, and the right code then finds the lock', async () => {
      const { user, secret } = await otpUser(env, admin);
      const { sessionId } = await startMfaLogin(env, user);
      const wrong = wrongCode(secret, env.clock.now());
      const responses = await Promise.all(
        Array.from({ length: 60 }, () => sendPasscode(env, sessionId, wrong)),
      );
      const judgedWrong = responses.filter((response) => response.status === 401).length;
      const refused = responses.filter((response) => response.status === 403).length;
      assert.equal(judgedWrong, 6, 'exactly six wrong guesses are answered as merely wrong');
      assert.equal(refused, 54, 'the seventh locks and every other guess is refused as locked');
      const right = await sendPasscode(env, sessionId, totpAt(secret, env.clock.now()));
      assert.equal(right.status, 403);
      assert.equal(right.body.forbidden?.message, Messages.locked);
      const row = await env.deps.db
        .selectFrom('users')
        .select('mfa_failed_count')
        .where('id', '=', user.id)
        .executeTakeFirstOrThrow();
      assert.equal(row.mfa_failed_count, 7);
    });
  });

  describe(`lockout with an expiry (${dialect})`, () => {
    let env: TestEnv;
    let admin: TestUser;
    before(async () => {
      env = await createTestEnv({ dialect, env: { LATCHKEY_MFA_LOCKOUT_SECONDS: '600' } });
      admin = await createAdmin(env);
    });
    after(() => env.close());

    test('a lock with LATCHKEY_MFA_LOCKOUT_SECONDS lifts by itself once that time has passed', async () => {
      const { user, secret } = await otpUser(env, admin);
      const { sessionId } = await startMfaLogin(env, user);
      for (let attempt = 1; attempt <= 7; attempt++)
        await sendPasscode(env, sessionId, wrongCode(secret, env.clock.now()));
      env.clock.advance(599_000);
      assert.equal((await passwordLogin(env, user.username)).body.unauthorized?.message, Messages.locked);
      env.clock.advance(2_000);
      const { sessionId: fresh } = await startMfaLogin(env, user);
      assert.equal((await sendPasscode(env, fresh, totpAt(secret, env.clock.now()))).status, 200);
    });

    test('the API and the panel agree on a lock: before it, while it holds, and from the moment it lifts', async () => {
      const { user, secret } = await otpUser(env, admin);
      const panel = await PanelClient.signedIn(env, admin);
      const expect = (multiFactorState: string, passwordLocked: boolean) => {
        const side = { multiFactorState, passwordLocked };
        return { api: side, panel: side };
      };
      assert.deepEqual(await shownLocks(env, panel, admin, user), expect('ACTIVE', false));

      const { sessionId } = await startMfaLogin(env, user);
      for (let attempt = 1; attempt <= 7; attempt++)
        await sendPasscode(env, sessionId, wrongCode(secret, env.clock.now()));
      assert.deepEqual(await shownLocks(env, panel, admin, user), expect('LOCKED', false));
      env.clock.advance(599_999);
      assert.deepEqual(await shownLocks(env, panel, admin, user), expect('LOCKED', false));
      env.clock.advance(1);
      assert.deepEqual(await shownLocks(env, panel, admin, user), expect('ACTIVE', false));

      const wrongPasswords = env.deps.config.passwordLockout.attempts;
      for (let attempt = 1; attempt <= wrongPasswords; attempt++)
        assert.equal((await passwordLogin(env, user.username, 'Wrongpass1')).status, 401);
      assert.deepEqual(await shownLocks(env, panel, admin, user), expect('ACTIVE', true));
      env.clock.advance(env.deps.config.passwordLockout.seconds * 1000 - 1);
      assert.deepEqual(await shownLocks(env, panel, admin, user), expect('ACTIVE', true));
      env.clock.advance(1);
      assert.deepEqual(await shownLocks(env, panel, admin, user), expect('ACTIVE', false));
    });
  });
}
