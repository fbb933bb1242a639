import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Messages } from '../src/core/errors.js';
import {
  accessOf,
  apiKeyLogin,
  assertFault,
  createUserManager,
  HEX32,
  tokenOf,
  type UserBody,
  userOf,
} from './support/api.js';
import {
  createAccount,
  createAdmin,
  createTestEnv,
  createUserVia,
  dialects,
  PASSWORD,
  passwordLogin,
  type Response,
  type TestEnv,
  type TestUser,
  uniqueName,
} from './support/harness.js';

const POLICY_MESSAGE =
  'Password must be at least 8 characters in length, must contain at least one uppercase letter, one lowercase letter, and one numeric character.';

const ISO_MS = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;

function usersOf(response: Response): UserBody[] {
  assert.equal(response.status, 200, response.text);
  return response.body.users as unknown as UserBody[];
}

const idsOf = (response: Response): string[] => usersOf(response).map((user) => user.id);

for (const dialect of dialects()) {
  describe(`POST /v2.0/users (${dialect})`, () => {
    let env: TestEnv;
    let admin: TestUser;
    let owner: TestUser;
    before(async () => {
      env = await createTestEnv({ dialect });
      admin = await createAdmin(env);
      owner = await createAccount(env, admin);
    });
    after(() => env.close());

    const create = (token: string, user: Record<string, unknown>) =>
      env.request('POST', '/v2.0/users', { token, body: { user } });

    test('an administrator creates an account owner with a new numeric domain: 201 and Location', async () => {
      const username = uniqueName('owner');
      const response = await create(admin.token, {
        username,
        email: `${username}@example.com`,
        enabled: true,
        'OS-KSADM:password': PASSWORD,
      });
      assert.equal(response.status, 201, response.text);
      const user = userOf(response);
      assert.match(user.id, HEX32);
      assert.equal(response.headers.location, `/v2.0/users/${user.id}`);
      const domainId = user['RAX-AUTH:domainId'] ?? '';
      assert.match(domainId, /^\d+$/);
      assert.deepEqual(user, {
        id: user.id,
        username,
        email: `${username}@example.com`,
        enabled: true,
        created: new Date(env.clock.now()).toISOString(),
        updated: new Date(env.clock.now()).toISOString(),
        'RAX-AUTH:defaultRegion': '',
        'RAX-AUTH:domainId': domainId,
        'RAX-AUTH:multiFactorEnabled': false,
      });
      assert.match(user.created, ISO_MS);
      const access = accessOf(await passwordLogin(env, username));
      assert.deepEqual(
        access.user.roles.map((role) => role.name),
        ['identity:user-admin'],
      );
      const domain = await env.request('GET', `/v2.0/RAX-AUTH/domains/${domainId}`, {
        token: access.token.id,
      });
      assert.equal(domain.status, 200, domain.text);
    });

    test('each account owner gets a domain of its own', async () => {
      const first = await createAccount(env, admin);
      const second = await createAccount(env, admin);
      assert.notEqual(first.domainId, second.domainId);
    });

    test('an administrator may choose the numeric domain id, once', async () => {
      const domainId = String(700_000_000 + Math.floor(Math.random() * 1_000_000));
      const first = await create(admin.token, {
        username: uniqueName('owner'),
        'OS-KSADM:password': PASSWORD,
        'RAX-AUTH:domainId': domainId,
      });
      assert.equal(first.status, 201, first.text);
      assert.equal(userOf(first)['RAX-AUTH:domainId'], domainId);
      const again = await create(admin.token, {
        username: uniqueName('owner'),
        'OS-KSADM:password': PASSWORD,
        'RAX-AUTH:domainId': domainId,
      });
      assertFault(again, 409, 'badRequest');
      assertFault(
        await create(admin.token, {
          username: uniqueName('owner'),
          'OS-KSADM:password': PASSWORD,
          'RAX-AUTH:domainId': 'acme',
        }),
        400,
        'badRequest',
      );
    });

    test('an account owner creates identity:default sub-users in its domain, with its default region', async () => {
      const account = await createAccount(env, admin);
      const region = await env.request('POST', `/v2.0/users/${account.id}`, {
        token: account.token,
        body: { user: { 'RAX-AUTH:defaultRegion': 'DFW' } },
      });
      assert.equal(region.status, 200, region.text);
      const username = uniqueName('sub');
      const response = await create(account.token, {
        username,
        'OS-KSADM:password': PASSWORD,
        // A domain in the body does not move a sub-user out of the creator's account.
        'RAX-AUTH:domainId': '1',
      });
      assert.equal(response.status, 201, response.text);
      const user = userOf(response);
      assert.equal(user['RAX-AUTH:domainId'], account.domainId);
      assert.equal(user['RAX-AUTH:defaultRegion'], 'DFW');
      assert.equal(user.email, undefined);
      const access = accessOf(await passwordLogin(env, username));
      assert.deepEqual(access.user.roles, [
        { id: '2', name: 'identity:default', description: 'Default Role.' },
      ]);
    });

    test('a user-manage user creates sub-users in its domain', async () => {
      const manager = await createUserManager(env, owner);
      const response = await create(manager.token, {
        username: uniqueName('sub'),
        'OS-KSADM:password': PASSWORD,
      });
      assert.equal(response.status, 201, response.text);
      assert.equal(userOf(response)['RAX-AUTH:domainId'], owner.domainId);
      const access = accessOf(await passwordLogin(env, userOf(response).username));
      assert.deepEqual(
        access.user.roles.map((role) => role.name),
        ['identity:default'],
      );
    });

    test('a service administrator creates identity administrators, without a domain', async () => {
      const service = await createAdmin(env, 'identity:service-admin');
      const username = uniqueName('admin');
      const response = await create(service.token, { username, 'OS-KSADM:password': PASSWORD });
      assert.equal(response.status, 201, response.text);
      assert.equal(userOf(response)['RAX-AUTH:domainId'], undefined);
      const access = accessOf(await passwordLogin(env, username));
      assert.deepEqual(
        access.user.roles.map((role) => role.name),
        ['identity:admin'],
      );
    });

    test('a default user may not create users', async () => {
      const sub = await createUserVia(env, owner, 'sub');
      assertFault(
        await create(sub.token, { username: uniqueName('x'), 'OS-KSADM:password': PASSWORD }),
        403,
        'forbidden',
        'Not Authorized',
      );
    });

    test('each invalid field gets the reference message', async () => {
      const cases: [Record<string, unknown>, string][] = [
        [{ 'OS-KSADM:password': PASSWORD }, 'Expecting username'],
        [{ username: '', 'OS-KSADM:password': PASSWORD }, 'Expecting username'],
        [{ username: '   ', 'OS-KSADM:password': PASSWORD }, 'Expecting username'],
        [{ username: '1user', 'OS-KSADM:password': PASSWORD }, 'Username has invalid characters.'],
        [{ username: 'has space', 'OS-KSADM:password': PASSWORD }, 'Username has invalid characters.'],
        [{ username: 'semi;colon', 'OS-KSADM:password': PASSWORD }, 'Username has invalid characters.'],
        [
          { username: uniqueName('u'), email: 'nope', 'OS-KSADM:password': PASSWORD },
          'Expecting valid email address',
        ],
        [
          { username: uniqueName('u'), email: 'a@b', 'OS-KSADM:password': PASSWORD },
          'Expecting valid email address',
        ],
        [{ username: uniqueName('u'), 'OS-KSADM:password': 'Short1' }, POLICY_MESSAGE],
        [{ username: uniqueName('u'), 'OS-KSADM:password': 'alllowercase1' }, POLICY_MESSAGE],
        [{ username: uniqueName('u'), 'OS-KSADM:password': 'ALLUPPERCASE1' }, POLICY_MESSAGE],
        [{ username: uniqueName('u'), 'OS-KSADM:password': 'NoDigitsHere' }, POLICY_MESSAGE],
      ];
      for (const [user, message] of cases) {
        assertFault(await create(owner.token, user), 400, 'badRequest', message);
      }
    });

    test('usernames may hold letters, digits and - _ . @', async () => {
      const username = `${uniqueName('a')}-b_c.d@example.com`;
      const response = await create(owner.token, { username, 'OS-KSADM:password': PASSWORD });
      assert.equal(response.status, 201, response.text);
    });

    test('a body that is not a user object is a 400', async () => {
      for (const body of [{}, { user: 'x' }, { user: { username: 5 } }, { user: { enabled: 'yes' } }]) {
        const response = await env.request('POST', '/v2.0/users', { token: owner.token, body });
        assert.equal(response.status, 400, response.text);
        assert.deepEqual(Object.keys(response.body), ['badRequest']);
      }
    });

    test('a duplicate username, in any case, is a 409 with the badRequest fault', async () => {
      const username = uniqueName('dup');
      assert.equal((await create(owner.token, { username, 'OS-KSADM:password': PASSWORD })).status, 201);
      const upper = username.toUpperCase();
      assertFault(
        await create(owner.token, { username: upper, 'OS-KSADM:password': PASSWORD }),
        409,
        'badRequest',
        `User with username: '${upper}' already exists.`,
      );
      // Unique across accounts too.
      const other = await createAccount(env, admin);
      assertFault(await create(other.token, { username, 'OS-KSADM:password': PASSWORD }), 409, 'badRequest');
    });

    test('concurrent creation of one username: one 201, the rest 409, never a 500', async () => {
      const username = uniqueName('race');
      const responses = await Promise.all(
        Array.from({ length: 4 }, () => create(owner.token, { username, 'OS-KSADM:password': PASSWORD })),
      );
      const statuses = responses.map((response) => response.status).sort();
      assert.deepEqual(statuses, [201, 409, 409, 409], responses.map((response) => response.text).join('\n'));
    });

    test('without a password the server generates one, returned once, that meets the policy', async () => {
      const username = uniqueName('gen');
      const response = await create(owner.token, { username });
      assert.equal(response.status, 201, response.text);
      const generated = userOf(response)['OS-KSADM:password'];
      assert.equal(typeof generated, 'string');
      assert.match(generated ?? '', /[A-Z]/);
      assert.match(generated ?? '', /[a-z]/);
      assert.match(generated ?? '', /\d/);
      assert.ok((generated ?? '').length >= 8);
      accessOf(await passwordLogin(env, username, generated));
      const read = await env.request('GET', `/v2.0/users/${userOf(response).id}`, { token: owner.token });
      assert.equal(userOf(read)['OS-KSADM:password'], undefined);
    });

    test('a supplied password is not echoed', async () => {
      const response = await create(owner.token, {
        username: uniqueName('pw'),
        'OS-KSADM:password': PASSWORD,
      });
      assert.equal(userOf(response)['OS-KSADM:password'], undefined);
      assert.ok(!response.text.includes(PASSWORD));
    });

    test('MFA attributes in the create body are ignored', async () => {
      const response = await create(owner.token, {
        username: uniqueName('mfa'),
        'OS-KSADM:password': PASSWORD,
        'RAX-AUTH:multiFactorEnabled': true,
        'RAX-AUTH:factorType': 'OTP',
        'RAX-AUTH:userMultiFactorEnforcementLevel': 'REQUIRED',
      });
      assert.equal(response.status, 201, response.text);
      const user = userOf(response);
      assert.equal(user['RAX-AUTH:multiFactorEnabled'], false);
      assert.equal(user['RAX-AUTH:factorType'], undefined);
      assert.equal(user['RAX-AUTH:userMultiFactorEnforcementLevel'], undefined);
      accessOf(await passwordLogin(env, user.username));
    });

    test('a user created disabled cannot log in', async () => {
      const username = uniqueName('off');
      const response = await create(owner.token, { username, enabled: false, 'OS-KSADM:password': PASSWORD });
      assert.equal(userOf(response).enabled, false);
      assertFault(await passwordLogin(env, username), 403, 'userDisabled', `User '${username}' is disabled.`);
    });

    test('creating a user needs a valid X-Auth-Token', async () => {
      assertFault(
        await env.request('POST', '/v2.0/users', { body: { user: { username: 'x' } } }),
        401,
        'unauthorized',
        Messages.noToken,
      );
    });
  });

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

  describe(`POST /v2.0/users/{id}: update (${dialect})`, () => {
    let env: TestEnv;
    let admin: TestUser;
    let owner: TestUser;
    before(async () => {
      env = await createTestEnv({ dialect });
      admin = await createAdmin(env);
      owner = await createAccount(env, admin);
    });
    after(() => env.close());

    const update = (token: string, id: string, user: Record<string, unknown>) =>
      env.request('POST', `/v2.0/users/${id}`, { token, body: { user } });
    const alive = async (token: string) =>
      (await env.request('GET', `/v2.0/tokens/${token}`, { token })).status === 200;

    test('an account owner changes a sub-user’s username, email and default region', async () => {
      const sub = await createUserVia(env, owner, 'sub');
      env.clock.advance(1000);
      const username = uniqueName('renamed');
      const response = await update(owner.token, sub.id, {
        username,
        email: `${username}@example.org`,
        'RAX-AUTH:defaultRegion': 'ORD',
      });
      assert.equal(response.status, 200, response.text);
      const user = userOf(response);
      assert.equal(user.username, username);
      assert.equal(user.email, `${username}@example.org`);
      assert.equal(user['RAX-AUTH:defaultRegion'], 'ORD');
      assert.equal(user.updated, new Date(env.clock.now()).toISOString());
      assert.notEqual(user.created, user.updated);
      // Renaming is not a credential change: the token lives on, and the new name logs in.
      assert.equal(await alive(sub.token), true);
      accessOf(await passwordLogin(env, username));
      assertFault(await passwordLogin(env, sub.username), 401, 'unauthorized', Messages.badPassword);
    });

    test('renaming to a taken name is 409; invalid values are 400 with the reference messages', async () => {
      const sub = await createUserVia(env, owner, 'sub');
      assertFault(
        await update(owner.token, sub.id, { username: owner.username.toUpperCase() }),
        409,
        'badRequest',
      );
      assertFault(
        await update(owner.token, sub.id, { username: '9lives' }),
        400,
        'badRequest',
        'Username has invalid characters.',
      );
      assertFault(
        await update(owner.token, sub.id, { email: 'nope' }),
        400,
        'badRequest',
        'Expecting valid email address',
      );
      assertFault(
        await update(owner.token, sub.id, { 'OS-KSADM:password': 'weak' }),
        400,
        'badRequest',
        POLICY_MESSAGE,
      );
      assert.equal(await alive(sub.token), true, 'a refused password change revokes nothing');
      // A change of case of one's own name is allowed.
      const recased = await update(owner.token, sub.id, { username: sub.username.toUpperCase() });
      assert.equal(recased.status, 200, recased.text);
    });

    test('concurrent renames to one free name: one 200, the other 409, never a 500', async () => {
      const first = await createUserVia(env, owner, 'sub');
      const second = await createUserVia(env, owner, 'sub');
      const username = uniqueName('wanted');
      const responses = await Promise.all([
        update(owner.token, first.id, { username }),
        update(owner.token, second.id, { username: username.toUpperCase() }),
      ]);
      const statuses = responses.map((response) => response.status).sort();
      assert.deepEqual(statuses, [200, 409], responses.map((response) => response.text).join('\n'));
    });

    test('a self password change revokes every token of the user, the caller’s own included', async () => {
      const sub = await createUserVia(env, owner, 'sub');
      const second = tokenOf(await passwordLogin(env, sub.username));
      const byKey = tokenOf(await apiKeyLogin(env, sub.username, sub.apiKey));
      const response = await update(sub.token, sub.id, { 'OS-KSADM:password': 'Brandnew22' });
      assert.equal(response.status, 200, response.text);
      for (const token of [sub.token, second, byKey]) assert.equal(await alive(token), false);
      assertFault(await passwordLogin(env, sub.username), 401, 'unauthorized', Messages.badPassword);
      accessOf(await passwordLogin(env, sub.username, 'Brandnew22'));
    });

    test('a password change by an account owner revokes the user’s tokens, not the owner’s', async () => {
      const sub = await createUserVia(env, owner, 'sub');
      const other = await createUserVia(env, owner, 'sub');
      const response = await update(owner.token, sub.id, { 'OS-KSADM:password': 'Brandnew22' });
      assert.equal(response.status, 200, response.text);
      assert.equal(await alive(sub.token), false);
      assert.equal(await alive(owner.token), true);
      assert.equal(await alive(other.token), true);
    });

    test('disabling a user revokes its tokens; enabling lets it log in again', async () => {
      const sub = await createUserVia(env, owner, 'sub');
      const disabled = await update(owner.token, sub.id, { enabled: false });
      assert.equal(disabled.status, 200, disabled.text);
      assert.equal(userOf(disabled).enabled, false);
      assert.equal(await alive(sub.token), false);
      assertFault(
        await passwordLogin(env, sub.username),
        403,
        'userDisabled',
        `User '${sub.username}' is disabled.`,
      );
      const enabled = await update(owner.token, sub.id, { enabled: true });
      assert.equal(userOf(enabled).enabled, true);
      accessOf(await passwordLogin(env, sub.username));
    });

    test('users cannot change their own enabled flag', async () => {
      assertFault(await update(owner.token, owner.id, { enabled: false }), 403, 'forbidden');
      const sub = await createUserVia(env, owner, 'sub');
      assertFault(await update(sub.token, sub.id, { enabled: false }), 403, 'forbidden');
      assert.equal(await alive(sub.token), true);
      assert.equal(await alive(owner.token), true);
    });

    test('MFA attributes in the update body are ignored', async () => {
      const sub = await createUserVia(env, owner, 'sub');
      const response = await update(owner.token, sub.id, {
        'RAX-AUTH:multiFactorEnabled': true,
        'RAX-AUTH:factorType': 'SMS',
        'RAX-AUTH:userMultiFactorEnforcementLevel': 'REQUIRED',
        'RAX-AUTH:multiFactorState': 'LOCKED',
      });
      assert.equal(response.status, 200, response.text);
      const user = userOf(response);
      assert.equal(user['RAX-AUTH:multiFactorEnabled'], false);
      assert.equal(user['RAX-AUTH:userMultiFactorEnforcementLevel'], undefined);
      assert.equal(user['RAX-AUTH:multiFactorState'], undefined);
      accessOf(await passwordLogin(env, sub.username));
    });

    test('the domain of a user cannot be changed by update', async () => {
      const sub = await createUserVia(env, owner, 'sub');
      const response = await update(admin.token, sub.id, { 'RAX-AUTH:domainId': '1' });
      assert.equal(response.status, 200, response.text);
      assert.equal(userOf(response)['RAX-AUTH:domainId'], owner.domainId);
    });

    test('updating an unknown user is 404; a default user updating another is 403', async () => {
      assertFault(await update(admin.token, '0'.repeat(32), { email: 'a@example.com' }), 404, 'itemNotFound');
      const sub = await createUserVia(env, owner, 'sub');
      const sub2 = await createUserVia(env, owner, 'sub');
      assertFault(
        await update(sub.token, sub2.id, { email: 'a@example.com' }),
        403,
        'forbidden',
        'Not Authorized',
      );
    });
  });

  describe(`DELETE /v2.0/users/{id} (${dialect})`, () => {
    let env: TestEnv;
    let admin: TestUser;
    let owner: TestUser;
    before(async () => {
      env = await createTestEnv({ dialect });
      admin = await createAdmin(env);
      owner = await createAccount(env, admin);
    });
    after(() => env.close());

    test('an account owner deletes a sub-user: 204, its tokens and credentials are gone', async () => {
      const sub = await createUserVia(env, owner, 'sub');
      const response = await env.request('DELETE', `/v2.0/users/${sub.id}`, { token: owner.token });
      assert.equal(response.status, 204);
      assert.equal(response.text, '');
      assertFault(
        await env.request('GET', `/v2.0/tokens/${sub.token}`, { token: sub.token }),
        401,
        'unauthorized',
        Messages.noToken,
      );
      assertFault(
        await env.request('GET', `/v2.0/tokens/${sub.token}`, { token: admin.token }),
        404,
        'itemNotFound',
        'Token not found.',
      );
      assertFault(
        await env.request('GET', `/v2.0/users/${sub.id}`, { token: owner.token }),
        404,
        'itemNotFound',
      );
      assertFault(await passwordLogin(env, sub.username), 401, 'unauthorized', Messages.badPassword);
      assertFault(await apiKeyLogin(env, sub.username, sub.apiKey), 401, 'unauthorized', Messages.badApiKey);
      // The name is free again.
      const again = await env.request('POST', '/v2.0/users', {
        token: owner.token,
        body: { user: { username: sub.username, 'OS-KSADM:password': PASSWORD } },
      });
      assert.equal(again.status, 201, again.text);
    });

    test('an account owner cannot delete itself', async () => {
      assertFault(
        await env.request('DELETE', `/v2.0/users/${owner.id}`, { token: owner.token }),
        403,
        'forbidden',
      );
      assert.equal((await env.request('GET', `/v2.0/users/${owner.id}`, { token: owner.token })).status, 200);
    });

    test('a default user may delete itself but not another user', async () => {
      const sub = await createUserVia(env, owner, 'sub');
      const sub2 = await createUserVia(env, owner, 'sub');
      assertFault(
        await env.request('DELETE', `/v2.0/users/${sub2.id}`, { token: sub.token }),
        403,
        'forbidden',
        'Not Authorized',
      );
      assert.equal((await env.request('DELETE', `/v2.0/users/${sub.id}`, { token: sub.token })).status, 204);
    });

    test('deleting an unknown user is 404', async () => {
      assertFault(
        await env.request('DELETE', `/v2.0/users/${'0'.repeat(32)}`, { token: admin.token }),
        404,
        'itemNotFound',
      );
    });

    test('an administrator deletes an account owner', async () => {
      const account = await createAccount(env, admin);
      assert.equal(
        (await env.request('DELETE', `/v2.0/users/${account.id}`, { token: admin.token })).status,
        204,
      );
      assertFault(await passwordLogin(env, account.username), 401, 'unauthorized', Messages.badPassword);
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
