import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Messages } from '../src/core/errors.js';
import { accessOf, apiKeyLogin, assertFault, createUserManager, HEX32, tokenOf } from './support/api.js';
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
} from './support/harness.js';

import { catalogFor, DAY_MS, setupMfaToken, unknownTokenId, writeCatalog } from './support/tokens.js';

/** Issuing tokens: POST /v2.0/tokens with each credential, the token lifetime and the catalog. */
for (const dialect of dialects()) {
  describe(`POST /v2.0/tokens (${dialect})`, () => {
    let env: TestEnv;
    let catalog: { file: string; remove(): void };
    let admin: TestUser;
    let owner: TestUser;
    before(async () => {
      catalog = writeCatalog();
      env = await createTestEnv({ dialect, env: { LATCHKEY_CATALOG_FILE: catalog.file } });
      admin = await createAdmin(env);
      owner = await createAccount(env, admin);
    });
    after(async () => {
      await env.close();
      catalog.remove();
    });

    test('a password login returns the full access object of reference §4.8', async () => {
      const response = await passwordLogin(env, owner.username);
      const access = accessOf(response);
      assert.match(access.token.id, HEX32);
      assert.notEqual(access.token.id, owner.token, 'every login issues a new token');
      const domainId = owner.domainId ?? '';
      assert.match(domainId, /^\d+$/);
      assert.deepEqual(response.body, {
        access: {
          token: {
            id: access.token.id,
            expires: new Date(env.clock.now() + DAY_MS).toISOString(),
            tenant: { id: domainId, name: domainId },
            'RAX-AUTH:authenticatedBy': ['PASSWORD'],
          },
          user: {
            id: owner.id,
            name: owner.username,
            roles: [{ id: '3', name: 'identity:user-admin', description: 'User Admin Role.' }],
            'RAX-AUTH:defaultRegion': '',
            'RAX-AUTH:domainId': domainId,
            'RAX-AUTH:multiFactorEnabled': false,
            'RAX-AUTH:federated': false,
          },
          serviceCatalog: catalogFor(domainId),
        },
      });
      assert.match(access.token.expires, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    });

    test('the username is matched without regard to case', async () => {
      const response = await passwordLogin(env, owner.username.toUpperCase());
      assert.equal(accessOf(response).user.id, owner.id);
    });

    test('a sub-user holds identity:default and the account tenant', async () => {
      const sub = await createUserVia(env, owner, 'sub');
      const access = accessOf(await passwordLogin(env, sub.username));
      assert.deepEqual(access.user.roles, [
        { id: '2', name: 'identity:default', description: 'Default Role.' },
      ]);
      assert.deepEqual(access.token.tenant, { id: owner.domainId, name: owner.domainId });
      assert.equal(access.user['RAX-AUTH:domainId'], owner.domainId);
    });

    test('a user-manage user lists both of its roles', async () => {
      const manager = await createUserManager(env, owner);
      const access = accessOf(await passwordLogin(env, manager.username));
      assert.deepEqual(
        access.user.roles.map((role) => role.name),
        ['identity:user-manage', 'identity:default'],
      );
    });

    test('an administrator without a domain gets no tenant and an empty catalog', async () => {
      const response = await passwordLogin(env, admin.username);
      const access = accessOf(response);
      assert.equal(access.token.tenant, undefined);
      assert.equal(access.user['RAX-AUTH:domainId'], undefined);
      assert.deepEqual(access.user.roles, [{ id: '1', name: 'identity:admin', description: 'Admin Role.' }]);
      assert.deepEqual(access.serviceCatalog, []);
    });

    test('an API key login reports APIKEY', async () => {
      const response = await apiKeyLogin(env, owner.username, owner.apiKey);
      const access = accessOf(response);
      assert.match(access.token.id, HEX32);
      assert.deepEqual(access.token['RAX-AUTH:authenticatedBy'], ['APIKEY']);
      assert.equal(access.user.id, owner.id);
      assert.deepEqual(access.serviceCatalog, catalogFor(owner.domainId ?? ''));
    });

    test('a tenantId or tenantName beside or inside the password credentials sets the tenant', async () => {
      const domainId = owner.domainId ?? '';
      const bodies = [
        {
          auth: { passwordCredentials: { username: owner.username, password: PASSWORD }, tenantId: domainId },
        },
        {
          auth: {
            passwordCredentials: { username: owner.username, password: PASSWORD },
            tenantName: domainId,
          },
        },
        {
          auth: { passwordCredentials: { username: owner.username, password: PASSWORD, tenantId: domainId } },
        },
        {
          auth: {
            'RAX-KSKEY:apiKeyCredentials': { username: owner.username, apiKey: owner.apiKey },
            tenantId: domainId,
          },
        },
      ];
      for (const body of bodies) {
        const access = accessOf(await env.request('POST', '/v2.0/tokens', { body }));
        assert.deepEqual(access.token.tenant, { id: domainId, name: domainId });
      }
    });

    test('a tenant the user does not belong to is refused', async () => {
      const response = await env.request('POST', '/v2.0/tokens', {
        body: {
          auth: { passwordCredentials: { username: owner.username, password: PASSWORD }, tenantId: '999' },
        },
      });
      assertFault(response, 401, 'unauthorized', Messages.tenantNotAuthorized);
    });

    test('tenantId and tenantName together are a bad request', async () => {
      const response = await env.request('POST', '/v2.0/tokens', {
        body: {
          auth: {
            passwordCredentials: { username: owner.username, password: PASSWORD },
            tenantId: owner.domainId,
            tenantName: owner.domainId,
          },
        },
      });
      assertFault(response, 400, 'badRequest', 'Invalid request. Specify tenantId OR tenantName, not both.');
    });

    test('token credentials with a tenant return the same token, scoped to the tenant', async () => {
      const domainId = owner.domainId ?? '';
      const original = accessOf(await apiKeyLogin(env, owner.username, owner.apiKey));
      for (const tenant of [{ tenantId: domainId }, { tenantName: domainId }]) {
        const response = await env.request('POST', '/v2.0/tokens', {
          body: { auth: { token: { id: original.token.id }, ...tenant } },
        });
        const access = accessOf(response);
        assert.equal(access.token.id, original.token.id);
        assert.equal(access.token.expires, original.token.expires);
        assert.deepEqual(access.token['RAX-AUTH:authenticatedBy'], ['APIKEY']);
        assert.deepEqual(access.token.tenant, { id: domainId, name: domainId });
        assert.equal(access.user.id, owner.id);
        assert.deepEqual(access.serviceCatalog, catalogFor(domainId));
      }
    });

    test('token credentials: both tenant fields, a foreign tenant, an unknown token', async () => {
      assertFault(
        await env.request('POST', '/v2.0/tokens', {
          body: {
            auth: { token: { id: owner.token }, tenantId: owner.domainId, tenantName: owner.domainId },
          },
        }),
        400,
        'badRequest',
        Messages.tenantIdAndName,
      );
      assertFault(
        await env.request('POST', '/v2.0/tokens', {
          body: { auth: { token: { id: owner.token }, tenantId: '42' } },
        }),
        401,
        'unauthorized',
        Messages.tenantNotAuthorized,
      );
      assertFault(
        await env.request('POST', '/v2.0/tokens', {
          body: { auth: { token: { id: unknownTokenId() }, tenantId: owner.domainId } },
        }),
        401,
        'unauthorized',
        "Error code: 'AUTH-005'; Token not authenticated.",
      );
    });

    test('a scoped (SETUP-MFA) token cannot be re-scoped to a tenant', async () => {
      const user = await createUserVia(env, owner, 'setup');
      const scoped = await setupMfaToken(env, user);
      const response = await env.request('POST', '/v2.0/tokens', {
        body: { auth: { token: { id: scoped }, tenantId: owner.domainId } },
      });
      assertFault(
        response,
        403,
        'forbidden',
        'The scope of this token does not allow access to this resource',
      );
    });

    test('a body without credentials is a 400 with the reference message', async () => {
      for (const body of [{}, { auth: {} }, { auth: 'x' }, { auth: { passwordCredentials: 'x' } }, []]) {
        assertFault(
          await env.request('POST', '/v2.0/tokens', { body }),
          400,
          'badRequest',
          'Invalid request body: unable to parse Auth data. Please review XML or JSON formatting.',
        );
      }
      assertFault(await env.request('POST', '/v2.0/tokens'), 400, 'badRequest', Messages.noCredentials);
    });

    test('an unknown credential type is a 400 that names the accepted ones', async () => {
      for (const auth of [
        { fooCredentials: { username: 'a', password: 'b' } },
        { passwordCredentials: { username: 'a', password: 'b' }, 'RAX-KSKEY:apiKeyCredentials': {} },
      ]) {
        const refused = await env.request('POST', '/v2.0/tokens', { body: { auth } });
        assertFault(refused, 400, 'badRequest');
        const message = String(refused.body.badRequest?.message);
        assert.ok(message.startsWith('Unknown credential type'), message);
        for (const accepted of [
          'passwordCredentials',
          'RAX-KSKEY:apiKeyCredentials',
          'token',
          'RAX-AUTH:passcodeCredentials',
        ])
          assert.ok(message.includes(accepted), `${message} names ${accepted}`);
      }
    });

    test('a wrong password and an unknown user get the same status and body', async () => {
      const wrong = await passwordLogin(env, owner.username, 'Wrongpass1');
      const unknown = await passwordLogin(env, 'nobody-here', 'Wrongpass1');
      assertFault(
        wrong,
        401,
        'unauthorized',
        "Error code: 'AUTH-004'; Unable to authenticate user with credentials provided.",
      );
      assert.equal(unknown.status, wrong.status);
      assert.equal(unknown.text, wrong.text);
    });

    test('an unknown user costs one argon2id verification with the same parameters as a real one', async () => {
      const passwords = env.deps.passwords;
      const original = passwords.verify.bind(passwords);
      const seen: string[] = [];
      passwords.verify = async (hash: string, password: string) => {
        seen.push(hash);
        return original(hash, password);
      };
      try {
        await passwordLogin(env, owner.username, 'Wrongpass1');
        await passwordLogin(env, 'nobody-at-all', 'Wrongpass1');
      } finally {
        passwords.verify = original;
      }
      assert.equal(seen.length, 2, 'each attempt verifies exactly once');
      const [real, dummy] = seen.map((hash) => hash.split('$'));
      assert.equal(dummy?.[1], 'argon2id');
      // `$argon2id$v=19$m=…,t=…,p=…$salt$hash`: same algorithm, version and cost.
      assert.deepEqual(dummy?.slice(1, 4), real?.slice(1, 4));
    });

    test('a wrong API key and an unknown user both get the API key message', async () => {
      const wrong = await apiKeyLogin(env, owner.username, 'a'.repeat(32));
      assertFault(wrong, 401, 'unauthorized', "Error code: 'AUTH-008'; Username or api key is invalid.");
      const unknown = await apiKeyLogin(env, 'nobody-here', owner.apiKey);
      assert.equal(unknown.text, wrong.text);
    });

    test('a disabled user gets 403 userDisabled with a right password or API key, 401 with a wrong one', async () => {
      const user = await createUserVia(env, owner, 'disabled');
      const update = await env.request('POST', `/v2.0/users/${user.id}`, {
        token: owner.token,
        body: { user: { enabled: false } },
      });
      assert.equal(update.status, 200, update.text);
      const message = `User '${user.username}' is disabled.`;
      assertFault(await passwordLogin(env, user.username), 403, 'userDisabled', message);
      assertFault(await apiKeyLogin(env, user.username, user.apiKey), 403, 'userDisabled', message);
      assertFault(
        await passwordLogin(env, user.username, 'Wrongpass1'),
        401,
        'unauthorized',
        Messages.badPassword,
      );
    });

    test('a token request with credential fields of the wrong type is a 400, never a 500', async () => {
      const response = await env.request('POST', '/v2.0/tokens', {
        body: { auth: { passwordCredentials: { username: 5, password: ['x'] } } },
      });
      assert.equal(response.status, 400);
      assert.deepEqual(Object.keys(response.body), ['badRequest']);
    });
  });

  describe(`token lifetime and the default catalog (${dialect})`, () => {
    let env: TestEnv;
    before(async () => {
      env = await createTestEnv({ dialect });
    });
    after(() => env.close());

    test('without LATCHKEY_CATALOG_FILE the catalog is empty', async () => {
      const owner = await createAccount(env);
      const access = accessOf(await passwordLogin(env, owner.username));
      assert.deepEqual(access.serviceCatalog, []);
      const endpoints = await env.request('GET', `/v2.0/tokens/${owner.token}/endpoints`, {
        token: owner.token,
      });
      assert.equal(endpoints.status, 200);
      assert.deepEqual(endpoints.body, { endpoints: [], endpoints_links: [] });
    });

    test('a token lives 24 hours to the millisecond', async () => {
      const admin = await createAdmin(env);
      const owner = await createAccount(env, admin);
      env.clock.advance(DAY_MS - 1);
      const still = await env.request('GET', `/v2.0/tokens/${owner.token}`, { token: owner.token });
      assert.equal(still.status, 200);
      env.clock.advance(1);
      assertFault(
        await env.request('GET', `/v2.0/tokens/${owner.token}`, { token: owner.token }),
        401,
        'unauthorized',
        Messages.noToken,
      );
      // An administrator with a fresh token finds the expired one gone.
      const fresh = tokenOf(await passwordLogin(env, admin.username));
      assertFault(
        await env.request('GET', `/v2.0/tokens/${owner.token}`, { token: fresh }),
        404,
        'itemNotFound',
        'Token not found.',
      );
      // Nor can an expired token be re-scoped to a tenant.
      assertFault(
        await env.request('POST', '/v2.0/tokens', {
          body: { auth: { token: { id: owner.token }, tenantId: owner.domainId } },
        }),
        401,
        'unauthorized',
        Messages.badToken,
      );
    });
  });

  describe(`LATCHKEY_TOKEN_TTL_SECONDS (${dialect})`, () => {
    test('it sets the token lifetime', async () => {
      const short = await createTestEnv({ dialect, env: { LATCHKEY_TOKEN_TTL_SECONDS: '3600' } });
      try {
        const owner = await createAccount(short);
        const access = accessOf(await passwordLogin(short, owner.username));
        assert.equal(access.token.expires, new Date(short.clock.now() + 3600_000).toISOString());
      } finally {
        await short.close();
      }
    });
  });
}
