import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Messages } from '../src/core/errors.js';
import { PASSWORD_POLICY_MESSAGE } from '../src/identity/passwords.js';
import { accessOf, assertFault, createUserManager, HEX32, ISO_MS, userOf } from './support/api.js';
import {
  createAccount,
  createAdmin,
  createTestEnv,
  createUserVia,
  dialects,
  PASSWORD,
  passwordLogin,
  type TestEnv,
  type TestUser,
  uniqueName,
} from './support/harness.js';

/** Creating users: POST /v2.0/users, who may create whom, passwords and API keys at creation. */
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
        [{ username: uniqueName('u'), 'OS-KSADM:password': 'Short1' }, PASSWORD_POLICY_MESSAGE],
        [{ username: uniqueName('u'), 'OS-KSADM:password': 'alllowercase1' }, PASSWORD_POLICY_MESSAGE],
        [{ username: uniqueName('u'), 'OS-KSADM:password': 'ALLUPPERCASE1' }, PASSWORD_POLICY_MESSAGE],
        [{ username: uniqueName('u'), 'OS-KSADM:password': 'NoDigitsHere' }, PASSWORD_POLICY_MESSAGE],
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
}
