import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { rolesGrantableBy } from '../src/access/roles.js';
import { ApiError } from '../src/core/errors.js';
import { createUser, requireUser, updateUser } from '../src/identity/users.js';
import {
  createAccount,
  createAdmin,
  createTestEnv,
  createUserVia,
  type TestEnv,
  type TestUser,
} from './support/harness.js';

const refusedWith = (message: RegExp) => (error: unknown) =>
  error instanceof ApiError &&
  error.status === 403 &&
  error.reason === 'role-not-grantable' &&
  message.test(error.message);

describe('roles given on Create User and Edit User', () => {
  let env: TestEnv;
  let owner: TestUser;
  let member: TestUser;

  before(async () => {
    env = await createTestEnv();
    owner = await createAccount(env);
    member = await createUserVia(env, owner, 'member');
  });
  after(() => env.close());

  test('each level gives the role it creates; an account owner also gives user manager', () => {
    assert.deepEqual(rolesGrantableBy('identity:service-admin'), ['identity:admin']);
    assert.deepEqual(rolesGrantableBy('identity:admin'), ['identity:user-admin']);
    assert.deepEqual(rolesGrantableBy('identity:user-admin'), ['identity:default', 'identity:user-manage']);
    assert.deepEqual(rolesGrantableBy('identity:user-manage'), ['identity:default']);
    assert.deepEqual(rolesGrantableBy('identity:default'), []);
  });

  test('an owner creates a user manager in its own account, and makes it a user again', async () => {
    const caller = { user: await requireUser(env.deps.db, owner.id), scope: null, source: null };
    const { user } = await createUser(env.deps, caller, {
      username: `manager-${Date.now().toString(36)}`,
      role: 'identity:user-manage',
    });
    assert.equal(user.role, 'identity:user-manage');
    assert.equal(user.domain_id, owner.domainId);
    const demoted = await updateUser(env.deps, caller, user.id, { role: 'identity:default' });
    assert.equal(demoted.role, 'identity:default');
  });

  test("a role the caller does not give, its own role, or an owner's role are refused", async () => {
    const caller = { user: await requireUser(env.deps.db, owner.id), scope: null, source: null };
    await assert.rejects(
      createUser(env.deps, caller, { username: 'never-admin', role: 'identity:admin' }),
      refusedWith(/You may not give this role/),
    );
    await assert.rejects(
      updateUser(env.deps, caller, member.id, { role: 'identity:user-admin' }),
      refusedWith(/You may not give this role/),
    );
    await assert.rejects(
      updateUser(env.deps, caller, owner.id, { role: 'identity:default' }),
      refusedWith(/cannot change its own role/),
    );
    const admin = {
      user: await requireUser(env.deps.db, (await createAdmin(env)).id),
      scope: null,
      source: null,
    };
    await assert.rejects(
      updateUser(env.deps, admin, owner.id, { role: 'identity:default' }),
      refusedWith(/You may not give this role/),
    );
    assert.equal((await requireUser(env.deps.db, member.id)).role, 'identity:default');
  });
});
