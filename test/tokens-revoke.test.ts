import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Messages } from '../src/core/errors.js';
import { assertFault, createUserManager, tokenOf, userOf } from './support/api.js';
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

import { setupMfaToken, unknownTokenId } from './support/tokens.js';

/** Revoking tokens: DELETE /v2.0/tokens and what stops working after. */
for (const dialect of dialects()) {
  describe(`revoking tokens (${dialect})`, () => {
    let env: TestEnv;
    let admin: TestUser;
    let owner: TestUser;
    let otherOwner: TestUser;
    before(async () => {
      env = await createTestEnv({ dialect });
      admin = await createAdmin(env);
      owner = await createAccount(env, admin);
      otherOwner = await createAccount(env, admin);
    });
    after(() => env.close());

    const fresh = async (user: TestUser) => tokenOf(await passwordLogin(env, user.username, user.password));
    const alive = async (token: string) =>
      (await env.request('GET', `/v2.0/tokens/${token}`, { token })).status === 200;

    test('DELETE /v2.0/tokens revokes the caller’s own token and nothing else', async () => {
      const sub = await createUserVia(env, owner, 'sub');
      const other = await fresh(sub);
      const response = await env.request('DELETE', '/v2.0/tokens', { token: sub.token });
      assert.equal(response.status, 204);
      assert.equal(response.text, '');
      assert.equal(await alive(sub.token), false);
      assert.equal(await alive(other), true);
      assertFault(
        await env.request('DELETE', '/v2.0/tokens', { token: sub.token }),
        401,
        'unauthorized',
        Messages.noToken,
      );
    });

    test('a scoped token may revoke itself', async () => {
      const user = await createUserVia(env, owner, 'scoped');
      const scoped = await setupMfaToken(env, user);
      assert.equal((await env.request('DELETE', '/v2.0/tokens', { token: scoped })).status, 204);
      const again = await setupMfaToken(env, user);
      assert.equal((await env.request('DELETE', `/v2.0/tokens/${again}`, { token: again })).status, 204);
      assertFault(
        await env.request('DELETE', '/v2.0/tokens', { token: again }),
        401,
        'unauthorized',
        Messages.noToken,
      );
    });

    test('anyone may revoke its own token by id', async () => {
      const sub = await createUserVia(env, owner, 'sub');
      const response = await env.request('DELETE', `/v2.0/tokens/${sub.token}`, { token: sub.token });
      assert.equal(response.status, 204);
      assert.equal(await alive(sub.token), false);
    });

    test('a default or user-manage user may not revoke another user’s token', async () => {
      const sub = await createUserVia(env, owner, 'sub');
      const sub2 = await createUserVia(env, owner, 'sub');
      const manager = await createUserManager(env, owner);
      assertFault(
        await env.request('DELETE', `/v2.0/tokens/${sub2.token}`, { token: sub.token }),
        403,
        'forbidden',
        'Not Authorized',
      );
      assertFault(
        await env.request('DELETE', `/v2.0/tokens/${sub2.token}`, { token: manager.token }),
        403,
        'forbidden',
        'Not Authorized',
      );
      // Existence is not revealed to a caller without the right to revoke.
      assertFault(
        await env.request('DELETE', `/v2.0/tokens/${unknownTokenId()}`, { token: sub.token }),
        403,
        'forbidden',
      );
      assert.equal(await alive(sub2.token), true);
    });

    test('an account owner revokes its own users’ tokens, not another account’s', async () => {
      const sub = await createUserVia(env, owner, 'sub');
      assert.equal(
        (await env.request('DELETE', `/v2.0/tokens/${sub.token}`, { token: owner.token })).status,
        204,
      );
      assert.equal(await alive(sub.token), false);
      const foreign = await createUserVia(env, otherOwner, 'foreign');
      assertFault(
        await env.request('DELETE', `/v2.0/tokens/${foreign.token}`, { token: owner.token }),
        403,
        'forbidden',
        'Not Authorized',
      );
      assertFault(
        await env.request('DELETE', `/v2.0/tokens/${admin.token}`, { token: owner.token }),
        403,
        'forbidden',
      );
      assert.equal(await alive(foreign.token), true);
    });

    test('an administrator revokes anyone’s token; unknown tokens are 404', async () => {
      const sub = await createUserVia(env, otherOwner, 'sub');
      assert.equal(
        (await env.request('DELETE', `/v2.0/tokens/${sub.token}`, { token: admin.token })).status,
        204,
      );
      assert.equal(await alive(sub.token), false);
      assertFault(
        await env.request('DELETE', `/v2.0/tokens/${sub.token}`, { token: admin.token }),
        404,
        'itemNotFound',
        'Token not found.',
      );
      assertFault(
        await env.request('DELETE', `/v2.0/tokens/${unknownTokenId()}`, { token: owner.token }),
        404,
        'itemNotFound',
        'Token not found.',
      );
    });

    test('a scoped token may not revoke another token', async () => {
      const user = await createUserVia(env, owner, 'scoped');
      const target = await createUserVia(env, owner, 'sub');
      const scoped = await setupMfaToken(env, user);
      assertFault(
        await env.request('DELETE', `/v2.0/tokens/${target.token}`, { token: scoped }),
        403,
        'forbidden',
        'Not Authorized',
      );
      assert.equal(await alive(target.token), true);
    });

    test('revoking needs a valid X-Auth-Token', async () => {
      assertFault(await env.request('DELETE', '/v2.0/tokens'), 401, 'unauthorized', Messages.noToken);
      assertFault(
        await env.request('DELETE', `/v2.0/tokens/${owner.token}`),
        401,
        'unauthorized',
        Messages.noToken,
      );
    });

    test('a revoked token no longer re-scopes to a tenant', async () => {
      const sub = await createUserVia(env, owner, 'sub');
      await env.request('DELETE', '/v2.0/tokens', { token: sub.token });
      const response = await env.request('POST', '/v2.0/tokens', {
        body: { auth: { token: { id: sub.token }, tenantId: owner.domainId } },
      });
      assertFault(response, 401, 'unauthorized', Messages.badToken);
      assert.equal(
        userOf(await env.request('GET', `/v2.0/users/${sub.id}`, { token: owner.token })).id,
        sub.id,
      );
    });
  });
}
