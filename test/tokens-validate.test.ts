import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Messages } from '../src/core/errors.js';
import { accessOf, assertFault, createUserManager, tokenOf } from './support/api.js';
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

import { setupMfaToken, unknownTokenId, writeCatalog } from './support/tokens.js';

/** Validating tokens: GET and HEAD /v2.0/tokens/{id}, scopes and what a token may see. */
for (const dialect of dialects()) {
  describe(`validating tokens (${dialect})`, () => {
    let env: TestEnv;
    let catalog: { file: string; remove(): void };
    let admin: TestUser;
    let owner: TestUser;
    let sub: TestUser;
    let sub2: TestUser;
    let otherOwner: TestUser;
    before(async () => {
      catalog = writeCatalog();
      env = await createTestEnv({ dialect, env: { LATCHKEY_CATALOG_FILE: catalog.file } });
      admin = await createAdmin(env);
      owner = await createAccount(env, admin);
      sub = await createUserVia(env, owner, 'sub');
      sub2 = await createUserVia(env, owner, 'sub');
      otherOwner = await createAccount(env, admin);
    });
    after(async () => {
      await env.close();
      catalog.remove();
    });

    const validate = (tokenId: string, caller: string, query = '') =>
      env.request('GET', `/v2.0/tokens/${tokenId}${query}`, { token: caller });

    test('anyone validates its own token: the access object without a catalog', async () => {
      const login = accessOf(await passwordLogin(env, sub.username));
      const response = await validate(login.token.id, login.token.id);
      const { serviceCatalog: _catalog, ...withoutCatalog } = login;
      assert.deepEqual(response.body, { access: withoutCatalog });
      assert.equal((response.body.access as Record<string, unknown>).serviceCatalog, undefined);
    });

    test('an administrator validates anyone’s token', async () => {
      const response = await validate(sub.token, admin.token);
      const access = accessOf(response);
      assert.equal(access.token.id, sub.token);
      assert.equal(access.user.id, sub.id);
    });

    test('an account owner validates the tokens of its own users only', async () => {
      assert.equal(accessOf(await validate(sub.token, owner.token)).user.id, sub.id);
      assertFault(await validate(otherOwner.token, owner.token), 403, 'forbidden', 'Not Authorized');
      assertFault(await validate(admin.token, owner.token), 403, 'forbidden', 'Not Authorized');
    });

    test('a default user or a user-manage user cannot validate another user’s token', async () => {
      assertFault(await validate(sub2.token, sub.token), 403, 'forbidden', 'Not Authorized');
      assertFault(await validate(owner.token, sub.token), 403, 'forbidden', 'Not Authorized');
      assertFault(await validate(unknownTokenId(), sub.token), 403, 'forbidden', 'Not Authorized');
      const manager = await createUserManager(env, owner);
      assertFault(await validate(sub.token, manager.token), 403, 'forbidden', 'Not Authorized');
    });

    test('regression: a default user probing another user’s scoped token gets 403, not 404', async () => {
      const user = await createUserVia(env, owner, 'scoped');
      const scoped = await setupMfaToken(env, user);
      assertFault(await validate(scoped, sub.token), 403, 'forbidden', 'Not Authorized');
      const endpoints = await env.request('GET', `/v2.0/tokens/${scoped}/endpoints`, { token: sub.token });
      assertFault(endpoints, 403, 'forbidden', 'Not Authorized');
    });

    test('unknown, malformed, revoked and scoped tokens are not found', async () => {
      for (const id of [unknownTokenId(), 'not-a-token']) {
        assertFault(await validate(id, admin.token), 404, 'itemNotFound', 'Token not found.');
      }
      const revoked = tokenOf(await passwordLogin(env, sub.username));
      assert.equal((await env.request('DELETE', '/v2.0/tokens', { token: revoked })).status, 204);
      assertFault(await validate(revoked, admin.token), 404, 'itemNotFound', 'Token not found.');
      assertFault(await validate(revoked, owner.token), 404, 'itemNotFound', 'Token not found.');

      const user = await createUserVia(env, owner, 'scoped');
      const scoped = await setupMfaToken(env, user);
      assertFault(await validate(scoped, admin.token), 404, 'itemNotFound', 'Token not found.');
    });

    test('a scoped token cannot validate anything, not even itself', async () => {
      const user = await createUserVia(env, owner, 'scoped');
      const scoped = await setupMfaToken(env, user);
      for (const target of [scoped, sub.token]) {
        assertFault(
          await validate(target, scoped),
          403,
          'forbidden',
          'Cannot use scoped tokens to validate tokens.',
        );
      }
    });

    test('belongsTo must name the token’s tenant', async () => {
      assert.equal((await validate(sub.token, admin.token, `?belongsTo=${owner.domainId}`)).status, 200);
      assertFault(
        await validate(sub.token, admin.token, `?belongsTo=${otherOwner.domainId}`),
        404,
        'itemNotFound',
        'Token not found.',
      );
      assertFault(
        await validate(sub.token, sub.token, '?belongsTo=1'),
        404,
        'itemNotFound',
        'Token not found.',
      );
    });

    test('without a valid X-Auth-Token the call is 401', async () => {
      assertFault(
        await env.request('GET', `/v2.0/tokens/${sub.token}`),
        401,
        'unauthorized',
        Messages.noToken,
      );
      assertFault(await validate(sub.token, unknownTokenId()), 401, 'unauthorized', Messages.noToken);
    });

    test('HEAD checks a token without a body', async () => {
      const ok = await env.request('HEAD', `/v2.0/tokens/${sub.token}`, { token: admin.token });
      assert.equal(ok.status, 200);
      assert.equal(ok.text, '');
      const missing = await env.request('HEAD', `/v2.0/tokens/${unknownTokenId()}`, { token: admin.token });
      assert.equal(missing.status, 404);
      assert.equal(missing.text, '');
      const denied = await env.request('HEAD', `/v2.0/tokens/${owner.token}`, { token: sub.token });
      assert.equal(denied.status, 403);
    });

    test('endpoints for a token list the catalog entries with the tenant filled in', async () => {
      const response = await env.request('GET', `/v2.0/tokens/${sub.token}/endpoints`, { token: sub.token });
      assert.equal(response.status, 200, response.text);
      const domainId = owner.domainId ?? '';
      assert.deepEqual(response.body, {
        endpoints: [
          {
            id: 1,
            name: 'cloudServersOpenStack',
            type: 'compute',
            region: 'DFW',
            tenantId: domainId,
            publicURL: `https://dfw.servers.example.com/v2/${domainId}`,
            versionId: '2',
          },
          {
            id: 2,
            name: 'cloudFiles',
            type: 'object-store',
            region: 'DFW',
            tenantId: `files_${domainId}`,
            publicURL: `https://storage.example.com/v1/files_${domainId}`,
            internalURL: `https://snet-storage.example.com/v1/files_${domainId}`,
          },
        ],
        endpoints_links: [],
      });
    });

    test('endpoints follow the rules of validation', async () => {
      const path = (id: string) => `/v2.0/tokens/${id}/endpoints`;
      assert.equal((await env.request('GET', path(sub.token), { token: admin.token })).status, 200);
      assert.equal((await env.request('GET', path(sub.token), { token: owner.token })).status, 200);
      assertFault(await env.request('GET', path(owner.token), { token: sub.token }), 403, 'forbidden');
      assertFault(
        await env.request('GET', path(unknownTokenId()), { token: admin.token }),
        404,
        'itemNotFound',
        'Token not found.',
      );
      assertFault(await env.request('GET', path(sub.token)), 401, 'unauthorized', Messages.noToken);
      const user = await createUserVia(env, owner, 'scoped');
      const scoped = await setupMfaToken(env, user);
      assertFault(await env.request('GET', path(scoped), { token: scoped }), 403, 'forbidden');
      assertFault(await env.request('GET', path(scoped), { token: admin.token }), 404, 'itemNotFound');
    });
  });
}
