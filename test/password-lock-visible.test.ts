import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import {
  createAccount,
  createAdmin,
  createTestEnv,
  createUserVia,
  dialects,
  passwordLogin,
  type TestEnv,
  type TestUser,
} from './support/harness.js';
import { enableOtp, sendPasscode, startMfaLogin } from './support/mfa.js';

const WRONG = 'Wrongpass1';
const UNTIL = 'RAX-AUTH:passwordLockedUntil';

async function lockPassword(env: TestEnv, user: TestUser): Promise<void> {
  for (let attempt = 1; attempt <= env.deps.config.passwordLockout.attempts; attempt++)
    assert.equal((await passwordLogin(env, user.username, WRONG)).status, 401);
}

async function userObject(env: TestEnv, reader: TestUser, user: TestUser): Promise<Record<string, unknown>> {
  const answer = await env.request('GET', `/v2.0/users/${user.id}`, { token: reader.token });
  assert.equal(answer.status, 200, answer.text);
  return answer.body.user as Record<string, unknown>;
}

function unlock(env: TestEnv, by: TestUser, user: TestUser) {
  return env.request('PUT', `/v2.0/users/${user.id}/RAX-AUTH/multi-factor`, {
    token: by.token,
    body: { 'RAX-AUTH:multiFactor': { unlock: true } },
  });
}

async function eventDetails(env: TestEnv, user: TestUser, type: string): Promise<Record<string, unknown>[]> {
  const rows = await env.deps.db
    .selectFrom('security_events')
    .select('detail')
    .where('user_id', '=', user.id)
    .where('type', '=', type)
    .orderBy('id')
    .execute();
  return rows.map((row) => JSON.parse(row.detail) as Record<string, unknown>);
}

for (const dialect of dialects()) {
  describe(`the password lock on the user object (${dialect})`, () => {
    let env: TestEnv;
    let admin: TestUser;
    before(async () => {
      env = await createTestEnv({ dialect });
      admin = await createAdmin(env);
    });
    after(() => env.close());

    test('regression: the user object had no lock field: six wrong passwords show when the lock lifts, on the user and in the list', async () => {
      const owner = await createAccount(env, admin);
      const member = await createUserVia(env, owner, 'member');
      assert.ok(!Object.hasOwn(await userObject(env, owner, member), UNTIL), 'no field while unlocked');

      const lastWrongAt = env.clock.now();
      await lockPassword(env, member);
      const expected = new Date(lastWrongAt + 1_800_000).toISOString();
      assert.equal((await userObject(env, owner, member))[UNTIL], expected);
      assert.equal((await userObject(env, admin, member))[UNTIL], expected);

      const list = await env.request('GET', '/v2.0/users', { token: owner.token });
      assert.equal(list.status, 200, list.text);
      const listed = (list.body.users as unknown as Record<string, unknown>[]).find(
        (user) => user.id === member.id,
      );
      assert.equal(listed?.[UNTIL], expected);
      const others = (list.body.users as unknown as Record<string, unknown>[]).filter(
        (user) => user.id !== member.id,
      );
      assert.ok(others.length > 0 && others.every((user) => !Object.hasOwn(user, UNTIL)));
    });

    test('the field goes when the lock times out', async () => {
      const owner = await createAccount(env, admin);
      await lockPassword(env, owner);
      env.clock.advance(1_799_000);
      assert.ok(Object.hasOwn(await userObject(env, admin, owner), UNTIL));
      env.clock.advance(1_000);
      assert.ok(!Object.hasOwn(await userObject(env, admin, owner), UNTIL));
    });

    test('the unlock lifts the password lock, and its event says which lock it lifted', async () => {
      const owner = await createAccount(env, admin);
      const member = await createUserVia(env, owner, 'member');
      await lockPassword(env, member);
      assert.equal((await unlock(env, owner, member)).status, 204);
      assert.ok(!Object.hasOwn(await userObject(env, owner, member), UNTIL));
      assert.equal((await passwordLogin(env, member.username)).status, 200);

      const [locked] = await eventDetails(env, member, 'password.locked');
      assert.equal(locked?.lock, 'password');
      const [unlocked] = await eventDetails(env, member, 'mfa.unlocked');
      assert.deepEqual(unlocked?.lifted, ['password']);
      assert.equal(unlocked?.passwordWasLocked, true);
      assert.equal(unlocked?.wasLocked, false);
    });

    test('one unlock lifts both locks and names both; an unlock with nothing locked names none', async () => {
      const owner = await createAccount(env, admin);
      const member = await createUserVia(env, owner, 'member');
      await enableOtp(env, member);
      const { sessionId } = await startMfaLogin(env, member);
      for (let attempt = 1; attempt <= env.deps.config.lockoutThreshold; attempt++)
        await sendPasscode(env, sessionId, '00000000');
      await lockPassword(env, member);
      const shown = await userObject(env, owner, member);
      assert.equal(shown['RAX-AUTH:multiFactorState'], 'LOCKED');
      assert.ok(Object.hasOwn(shown, UNTIL));

      assert.equal((await unlock(env, owner, member)).status, 204);
      const after = await userObject(env, owner, member);
      assert.equal(after['RAX-AUTH:multiFactorState'], 'ACTIVE');
      assert.ok(!Object.hasOwn(after, UNTIL));
      const [passcodeLocked] = await eventDetails(env, member, 'mfa.locked');
      assert.equal(passcodeLocked?.lock, 'passcode');
      assert.equal((await unlock(env, owner, member)).status, 204);
      const unlocks = await eventDetails(env, member, 'mfa.unlocked');
      assert.deepEqual(
        unlocks.map((detail) => detail.lifted),
        [['password', 'passcode'], []],
      );
    });
  });

  describe(`a password lock without an end (${dialect})`, () => {
    test('with LATCHKEY_PASSWORD_LOCKOUT_SECONDS=0 the field is null: only an unlock lifts it', async () => {
      const env = await createTestEnv({
        dialect,
        env: { LATCHKEY_PASSWORD_LOCKOUT_SECONDS: '0', LATCHKEY_PASSWORD_LOCKOUT_ATTEMPTS: '3' },
      });
      try {
        const admin = await createAdmin(env);
        const owner = await createAccount(env, admin);
        await lockPassword(env, owner);
        env.clock.advance(6 * 3_600_000);
        const shown = await userObject(env, admin, owner);
        assert.ok(Object.hasOwn(shown, UNTIL));
        assert.equal(shown[UNTIL], null);
        assert.equal((await unlock(env, admin, owner)).status, 204);
        assert.ok(!Object.hasOwn(await userObject(env, admin, owner), UNTIL));
      } finally {
        await env.close();
      }
    });
  });
}
