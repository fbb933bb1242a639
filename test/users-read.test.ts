import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Messages } from '../src/core/errors.js';

import { assertFault, createUserManager, ISO_MS, type UserBody, userOf } from './support/api.js';
import {
  createAccount,
  createAdmin,
  createTestEnv,
  createUserVia,
  dialects,
  type Response,
  type TestEnv,
  type TestUser,
} from './support/harness.js';

function usersOf(response: Response): UserBody[] {
  assert.equal(response.status, 200, response.text);
  return response.body.users as unknown as UserBody[];
}

const idsOf = (response: Response): string[] => usersOf(response).map((user) => user.id);

/** Reading users and accounts: GET /v2.0/users, by id, by name, by email, and GET /v2.0/RAX-AUTH/domains/{id}. */
for (const dialect of dialects()) {
  describe(`reading users (${dialect})`, () => {
    let env: TestEnv;
    let admin: TestUser;
    let owner: TestUser;
    let manager: TestUser;
    let sub: TestUser;
    let sub2: TestUser;
    let otherOwner: TestUser;
    let otherSub: TestUser;
    before(async () => {
      env = await createTestEnv({ dialect });
      admin = await createAdmin(env);
      owner = await createAccount(env, admin);
      manager = await createUserManager(env, owner);
      sub = await createUserVia(env, owner, 'sub');
      sub2 = await createUserVia(env, owner, 'sub');
      otherOwner = await createAccount(env, admin);
      otherSub = await createUserVia(env, otherOwner, 'sub');
    });
    after(() => env.close());

    test('GET /v2.0/users/{id} returns the user object of reference §6.1', async () => {
      const response = await env.request('GET', `/v2.0/users/${sub.id}`, { token: owner.token });
      assert.equal(response.status, 200, response.text);
      const user = userOf(response);
      assert.deepEqual(user, {
        id: sub.id,
        username: sub.username,
        email: `${sub.username}@example.com`,
        enabled: true,
        created: user.created,
        updated: user.updated,
        'RAX-AUTH:defaultRegion': '',
        'RAX-AUTH:domainId': owner.domainId,
        'RAX-AUTH:multiFactorEnabled': false,
      });
      assert.match(user.created, ISO_MS);
      assert.match(user.updated, ISO_MS);
    });

    test('an unknown user id is a 404', async () => {
      assertFault(
        await env.request('GET', `/v2.0/users/${'0'.repeat(32)}`, { token: admin.token }),
        404,
        'itemNotFound',
      );
    });

    test('a default user reads only itself', async () => {
      assert.equal((await env.request('GET', `/v2.0/users/${sub.id}`, { token: sub.token })).status, 200);
      assertFault(
        await env.request('GET', `/v2.0/users/${sub2.id}`, { token: sub.token }),
        403,
        'forbidden',
        'Not Authorized',
      );
    });

    test('GET /v2.0/users: an account owner sees its whole account', async () => {
      const ids = idsOf(await env.request('GET', '/v2.0/users', { token: owner.token }));
      assert.deepEqual(new Set(ids), new Set([owner.id, manager.id, sub.id, sub2.id]));
    });

    test('GET /v2.0/users: a user-manage user sees itself and the sub-users of its account', async () => {
      const ids = idsOf(await env.request('GET', '/v2.0/users', { token: manager.token }));
      assert.deepEqual(new Set(ids), new Set([manager.id, sub.id, sub2.id]));
    });

    test('GET /v2.0/users: a default user sees only itself', async () => {
      assert.deepEqual(idsOf(await env.request('GET', '/v2.0/users', { token: sub.token })), [sub.id]);
    });

    test('GET /v2.0/users: an administrator sees itself and the users below it, not other admins', async () => {
      const otherAdmin = await createAdmin(env);
      const ids = idsOf(await env.request('GET', '/v2.0/users', { token: admin.token }));
      for (const id of [admin.id, owner.id, manager.id, sub.id, otherOwner.id, otherSub.id]) {
        assert.ok(ids.includes(id), `admin's list should include ${id}`);
      }
      assert.ok(!ids.includes(otherAdmin.id));
    });

    test('GET /v2.0/users?name= returns one user object, case-insensitively', async () => {
      const response = await env.request('GET', `/v2.0/users?name=${sub.username.toUpperCase()}`, {
        token: owner.token,
      });
      assert.equal(response.status, 200, response.text);
      assert.deepEqual(Object.keys(response.body), ['user']);
      assert.equal(userOf(response).id, sub.id);
    });

    test('GET /v2.0/users?name= for an unknown or invisible user is 404', async () => {
      assertFault(
        await env.request('GET', '/v2.0/users?name=nobody-here', { token: owner.token }),
        404,
        'itemNotFound',
        "User 'nobody-here' not found.",
      );
      assertFault(
        await env.request('GET', `/v2.0/users?name=${otherSub.username}`, { token: owner.token }),
        404,
        'itemNotFound',
        `User '${otherSub.username}' not found.`,
      );
      assertFault(
        await env.request('GET', `/v2.0/users?name=${sub2.username}`, { token: sub.token }),
        404,
        'itemNotFound',
      );
    });

    test('GET /v2.0/users?email= returns a list of the visible users with that address', async () => {
      const email = `${sub.username}@example.com`;
      const query = `/v2.0/users?email=${encodeURIComponent(email)}`;
      assert.deepEqual(idsOf(await env.request('GET', query, { token: owner.token })), [sub.id]);
      assert.deepEqual(idsOf(await env.request('GET', query, { token: sub.token })), [sub.id]);
      assert.deepEqual(idsOf(await env.request('GET', query, { token: sub2.token })), []);
      assert.deepEqual(idsOf(await env.request('GET', query, { token: otherOwner.token })), []);
      assert.deepEqual(idsOf(await env.request('GET', query, { token: admin.token })), [sub.id]);
    });

    test('reading users needs a valid X-Auth-Token', async () => {
      assertFault(await env.request('GET', '/v2.0/users'), 401, 'unauthorized', Messages.noToken);
      assertFault(await env.request('GET', `/v2.0/users/${sub.id}`), 401, 'unauthorized', Messages.noToken);
    });
  });

  describe(`GET /v2.0/RAX-AUTH/domains/{id} (${dialect})`, () => {
    let env: TestEnv;
    let admin: TestUser;
    let owner: TestUser;
    let sub: TestUser;
    let otherOwner: TestUser;
    before(async () => {
      env = await createTestEnv({ dialect });
      admin = await createAdmin(env);
      owner = await createAccount(env, admin);
      sub = await createUserVia(env, owner, 'sub');
      otherOwner = await createAccount(env, admin);
    });
    after(() => env.close());

    const domainPath = (id: string | null) => `/v2.0/RAX-AUTH/domains/${id ?? ''}`;

    test('an account owner reads its domain, with the enforcement level OPTIONAL', async () => {
      const response = await env.request('GET', domainPath(owner.domainId), { token: owner.token });
      assert.equal(response.status, 200, response.text);
      assert.deepEqual(response.body, {
        'RAX-AUTH:domain': {
          id: owner.domainId,
          name: owner.domainId,
          enabled: true,
          description: `Account of ${owner.username}`,
          domainMultiFactorEnforcementLevel: 'OPTIONAL',
          'latchkey:passkeysOnly': false,
        },
      });
    });

    test('a sub-user reads its own domain too; an administrator reads any', async () => {
      assert.equal((await env.request('GET', domainPath(owner.domainId), { token: sub.token })).status, 200);
      assert.equal(
        (await env.request('GET', domainPath(owner.domainId), { token: admin.token })).status,
        200,
      );
    });

    test('another account’s domain is 403; an unknown domain is 404 for an administrator', async () => {
      assertFault(
        await env.request('GET', domainPath(otherOwner.domainId), { token: owner.token }),
        403,
        'forbidden',
        'Not Authorized',
      );
      assertFault(
        await env.request('GET', domainPath(otherOwner.domainId), { token: sub.token }),
        403,
        'forbidden',
      );
      assertFault(await env.request('GET', domainPath('1'), { token: admin.token }), 404, 'itemNotFound');
      assertFault(await env.request('GET', domainPath('1'), { token: owner.token }), 403, 'forbidden');
      assertFault(
        await env.request('GET', domainPath(owner.domainId)),
        401,
        'unauthorized',
        Messages.noToken,
      );
    });
  });
}
