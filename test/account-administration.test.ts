import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { type Acting, acting, may } from '../src/access/caller.js';
import { ApiError } from '../src/core/errors.js';
import { listAccountsFor } from '../src/identity/domains.js';
import { listAccountUsersFor, requireUser } from '../src/identity/users.js';
import { failedSignInsByHour, HOUR_MS, lastSignInsFor } from '../src/reports/aggregates.js';
import {
  createAccount,
  createAdmin,
  createTestEnv,
  createUserVia,
  dialects,
  passwordLogin,
  setRole,
  type TestEnv,
  type TestUser,
} from './support/harness.js';
import { enableOtp, sendPasscode, startMfaLogin } from './support/mfa.js';

async function actingAs(env: TestEnv, user: TestUser): Promise<Acting> {
  return acting(await requireUser(env.deps.db, user.id));
}

function refusedWith403(error: unknown): boolean {
  return error instanceof ApiError && error.status === 403;
}

for (const dialect of dialects()) {
  describe(`account administration: who may, and the account's figures (${dialect})`, () => {
    let env: TestEnv;
    let admin: TestUser;
    let owner: TestUser;
    let manager: TestUser;
    let member: TestUser;
    let otherOwner: TestUser;

    before(async () => {
      env = await createTestEnv({ dialect });
      admin = await createAdmin(env);
      owner = await createAccount(env, admin);
      manager = await createUserVia(env, owner, 'manager');
      await setRole(env, manager, 'identity:user-manage');
      member = await createUserVia(env, owner, 'member');
      otherOwner = await createAccount(env, admin);
    });
    after(() => env.close());

    test('account owners and user managers administer their own account, administrators every account, users none', async () => {
      const domainId = owner.domainId ?? '';
      const otherId = otherOwner.domainId ?? '';
      for (const [who, user] of [
        ['owner', owner],
        ['manager', manager],
      ] as const) {
        const as = await actingAs(env, user);
        assert.ok(may(as, { kind: 'account.administer', domainId }), who);
        assert.ok(!may(as, { kind: 'account.administer', domainId: otherId }), who);
      }
      const asAdmin = await actingAs(env, admin);
      assert.ok(may(asAdmin, { kind: 'account.administer', domainId: otherId }));
      const asMember = await actingAs(env, member);
      assert.ok(!may(asMember, { kind: 'account.administer', domainId: undefined }));
      // A SETUP-MFA session administers nothing.
      assert.ok(!may({ ...asAdmin, scope: 'SETUP-MFA' }, { kind: 'account.administer', domainId }));
    });

    test('the account chooser lists every account to an administrator, only its own to an owner', async () => {
      const all = await listAccountsFor(env.deps, await actingAs(env, admin));
      const ids = all.map((account) => account.id);
      assert.ok(ids.includes(owner.domainId ?? '') && ids.includes(otherOwner.domainId ?? ''));
      const mine = all.find((account) => account.id === owner.domainId);
      assert.equal(mine?.users, 3);
      const found = await listAccountsFor(env.deps, await actingAs(env, admin), otherOwner.domainId ?? '');
      assert.deepEqual(
        found.map((account) => account.id),
        [otherOwner.domainId],
      );
      const own = await listAccountsFor(env.deps, await actingAs(env, owner));
      assert.deepEqual(
        own.map((account) => account.id),
        [owner.domainId],
      );
      await assert.rejects(listAccountsFor(env.deps, await actingAs(env, member)), refusedWith403);
    });

    test('the user list: the owner sees the whole account, a manager not the owner, search by name or email', async () => {
      const domainId = owner.domainId ?? '';
      const byOwner = await listAccountUsersFor(env.deps, await actingAs(env, owner), domainId);
      assert.deepEqual(new Set(byOwner.map((user) => user.id)), new Set([owner.id, manager.id, member.id]));
      assert.ok(byOwner.every((user) => !('password_hash' in user) && !('api_key_enc' in user)));
      const byManager = await listAccountUsersFor(env.deps, await actingAs(env, manager), domainId);
      assert.deepEqual(new Set(byManager.map((user) => user.id)), new Set([manager.id, member.id]));
      const searched = await listAccountUsersFor(
        env.deps,
        await actingAs(env, owner),
        domainId,
        member.username.slice(0, -2).toUpperCase(),
      );
      assert.deepEqual(
        searched.map((user) => user.id),
        [member.id],
      );
      const byEmail = await listAccountUsersFor(
        env.deps,
        await actingAs(env, owner),
        domainId,
        '@EXAMPLE.com',
      );
      assert.equal(byEmail.length, 3);
      await assert.rejects(
        listAccountUsersFor(env.deps, await actingAs(env, otherOwner), domainId),
        refusedWith403,
      );
    });

    test('last sign-in is the newest successful login, and only of users the caller may view', async () => {
      const account = await createAccount(env, admin);
      const user = await createUserVia(env, account, 'recent');
      const quiet = await createUserVia(env, account, 'quiet');
      await env.deps.db.deleteFrom('security_events').where('user_id', '=', quiet.id).execute();
      env.clock.advance(60_000);
      const expected = env.clock.now();
      assert.equal((await passwordLogin(env, user.username, user.password)).status, 200);
      env.clock.advance(60_000);
      assert.equal((await passwordLogin(env, user.username, 'Wrongpass1')).status, 401);
      const users = await listAccountUsersFor(env.deps, await actingAs(env, account), account.domainId ?? '');
      const last = await lastSignInsFor(env.deps, await actingAs(env, account), users);
      assert.equal(last.get(user.id), expected);
      assert.equal(last.has(quiet.id), false);
      await assert.rejects(lastSignInsFor(env.deps, await actingAs(env, otherOwner), users), refusedWith403);
    });

    test('failed sign-ins per hour over the last 24 hours: wrong passwords and wrong passcodes, not the MFA-setup step', async () => {
      const account = await createAccount(env, admin);
      const user = await createUserVia(env, account, 'target');
      const secret = await enableOtp(env, user);
      assert.ok(secret);
      // The start of the next clock hour: time only moves forward.
      const start = (Math.floor(env.clock.now() / HOUR_MS) + 1) * HOUR_MS;
      env.clock.set(start + 5 * 60_000);
      // Hour 0: two wrong passwords.
      for (let i = 0; i < 2; i++)
        assert.equal((await passwordLogin(env, user.username, 'Wrongpass1')).status, 401);
      // Three hours later: one wrong passcode.
      env.clock.set(start + 3 * HOUR_MS + 60_000);
      const { sessionId } = await startMfaLogin(env, user);
      assert.equal((await sendPasscode(env, sessionId, '000000')).status, 401);
      // An account user who must set MFA up is not failing to sign in.
      const required = await createUserVia(env, account, 'required');
      await env.request('PUT', `/v2.0/users/${required.id}/RAX-AUTH/multi-factor`, {
        token: account.token,
        body: { 'RAX-AUTH:multiFactor': { userMultiFactorEnforcementLevel: 'REQUIRED' } },
      });
      assert.equal((await passwordLogin(env, required.username, required.password)).status, 403);
      // Another account's failures are not this account's.
      assert.equal((await passwordLogin(env, otherOwner.username, 'Wrongpass1')).status, 401);

      const hours = await failedSignInsByHour(env.deps, await actingAs(env, account), account.domainId ?? '');
      assert.equal(hours.length, 24);
      assert.equal(hours.at(-1)?.start, start + 3 * HOUR_MS);
      assert.equal(hours.at(-4)?.start, start);
      assert.equal(hours.at(-4)?.count, 2);
      assert.equal(hours.at(-1)?.count, 1);
      assert.equal(
        hours.reduce((sum, hour) => sum + hour.count, 0),
        3,
      );
      // Read from the event log: a user manager may not, nor another account's owner.
      const accountManager = await createUserVia(env, account, 'mgr');
      await setRole(env, accountManager, 'identity:user-manage');
      await assert.rejects(
        failedSignInsByHour(env.deps, await actingAs(env, accountManager), account.domainId ?? ''),
        refusedWith403,
      );
      await assert.rejects(
        failedSignInsByHour(env.deps, await actingAs(env, otherOwner), account.domainId ?? ''),
        refusedWith403,
      );
      // A day later, they have left the window.
      env.clock.advance(24 * HOUR_MS);
      const later = await failedSignInsByHour(env.deps, await actingAs(env, account), account.domainId ?? '');
      assert.equal(
        later.reduce((sum, hour) => sum + hour.count, 0),
        0,
      );
    });
  });
}
