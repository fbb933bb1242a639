import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Messages } from '../src/core/errors.js';
import { accessOf, apiKeyLogin, apiKeyPath, assertFault, HEX32, tokenOf } from './support/api.js';
import {
  createAccount,
  createAdmin,
  createTestEnv,
  createUserVia,
  dialects,
  passwordLogin,
  type Response,
  type TestEnv,
  type TestUser,
} from './support/harness.js';

const POLICY_MESSAGE =
  'Password must be at least 8 characters in length, must contain at least one uppercase letter, one lowercase letter, and one numeric character.';

interface ApiKeyCredentials {
  username: string;
  apiKey: string;
}

function apiKeyOf(response: Response): ApiKeyCredentials {
  assert.equal(response.status, 200, response.text);
  return response.body['RAX-KSKEY:apiKeyCredentials'] as unknown as ApiKeyCredentials;
}

for (const dialect of dialects()) {
  describe(`credentials (${dialect})`, () => {
    let env: TestEnv;
    let admin: TestUser;
    let owner: TestUser;
    before(async () => {
      env = await createTestEnv({ dialect });
      admin = await createAdmin(env);
      owner = await createAccount(env, admin);
    });
    after(() => env.close());

    const alive = async (token: string) =>
      (await env.request('GET', `/v2.0/tokens/${token}`, { token })).status === 200;
    const credentialsPath = (user: TestUser) => `/v2.0/users/${user.id}/OS-KSADM/credentials`;

    test('every user has an API key from creation, listed and readable by itself', async () => {
      const sub = await createUserVia(env, owner, 'sub');
      const list = await env.request('GET', credentialsPath(sub), { token: sub.token });
      assert.equal(list.status, 200, list.text);
      assert.deepEqual(list.body, {
        credentials: [{ 'RAX-KSKEY:apiKeyCredentials': { username: sub.username, apiKey: sub.apiKey } }],
      });
      assert.match(sub.apiKey, HEX32);
      assert.deepEqual(apiKeyOf(await env.request('GET', apiKeyPath(sub.id), { token: sub.token })), {
        username: sub.username,
        apiKey: sub.apiKey,
      });
      assert.notEqual(sub.apiKey, owner.apiKey);
      accessOf(await apiKeyLogin(env, sub.username, sub.apiKey));
    });

    test('API keys are stored encrypted, never in clear', async () => {
      const sub = await createUserVia(env, owner, 'sub');
      const row = await env.deps.db
        .selectFrom('users')
        .select('api_key_enc')
        .where('id', '=', sub.id)
        .executeTakeFirstOrThrow();
      assert.ok(row.api_key_enc);
      assert.ok(!row.api_key_enc.includes(sub.apiKey));
    });

    test('an account owner and an administrator read a sub-user’s key; a sub-user cannot read the owner’s', async () => {
      const sub = await createUserVia(env, owner, 'sub');
      assert.equal(
        apiKeyOf(await env.request('GET', apiKeyPath(sub.id), { token: owner.token })).apiKey,
        sub.apiKey,
      );
      assert.equal(
        apiKeyOf(await env.request('GET', apiKeyPath(sub.id), { token: admin.token })).apiKey,
        sub.apiKey,
      );
      assertFault(
        await env.request('GET', apiKeyPath(owner.id), { token: sub.token }),
        403,
        'forbidden',
        'Not Authorized',
      );
      assertFault(await env.request('GET', credentialsPath(owner), { token: sub.token }), 403, 'forbidden');
    });

    test('a reset gives a new key that works; the old key fails; no token is revoked', async () => {
      const sub = await createUserVia(env, owner, 'sub');
      const byKey = tokenOf(await apiKeyLogin(env, sub.username, sub.apiKey));
      const response = await env.request('POST', `${apiKeyPath(sub.id)}/RAX-AUTH/reset`, {
        token: sub.token,
      });
      const reset = apiKeyOf(response);
      assert.equal(reset.username, sub.username);
      assert.match(reset.apiKey, HEX32);
      assert.notEqual(reset.apiKey, sub.apiKey);
      accessOf(await apiKeyLogin(env, sub.username, reset.apiKey));
      assertFault(await apiKeyLogin(env, sub.username, sub.apiKey), 401, 'unauthorized', Messages.badApiKey);
      assert.equal(await alive(sub.token), true);
      assert.equal(await alive(byKey), true);
      assert.equal(
        apiKeyOf(await env.request('GET', apiKeyPath(sub.id), { token: sub.token })).apiKey,
        reset.apiKey,
      );
    });

    test('an account owner resets a sub-user’s key; a sub-user cannot reset another’s', async () => {
      const sub = await createUserVia(env, owner, 'sub');
      const sub2 = await createUserVia(env, owner, 'sub');
      const reset = apiKeyOf(
        await env.request('POST', `${apiKeyPath(sub.id)}/RAX-AUTH/reset`, { token: owner.token }),
      );
      accessOf(await apiKeyLogin(env, sub.username, reset.apiKey));
      assertFault(
        await env.request('POST', `${apiKeyPath(sub2.id)}/RAX-AUTH/reset`, { token: sub.token }),
        403,
        'forbidden',
      );
      accessOf(await apiKeyLogin(env, sub2.username, sub2.apiKey));
    });

    test('a deleted API key no longer logs in; it reads as 404 until reset', async () => {
      const sub = await createUserVia(env, owner, 'sub');
      const byKey = tokenOf(await apiKeyLogin(env, sub.username, sub.apiKey));
      const response = await env.request('DELETE', apiKeyPath(sub.id), { token: sub.token });
      assert.equal(response.status, 204);
      assert.equal(response.text, '');
      assertFault(await apiKeyLogin(env, sub.username, sub.apiKey), 401, 'unauthorized', Messages.badApiKey);
      assertFault(await env.request('GET', apiKeyPath(sub.id), { token: sub.token }), 404, 'itemNotFound');
      assert.deepEqual((await env.request('GET', credentialsPath(sub), { token: sub.token })).body, {
        credentials: [],
      });
      assertFault(await env.request('DELETE', apiKeyPath(sub.id), { token: sub.token }), 404, 'itemNotFound');
      assert.equal(await alive(byKey), true, 'deleting the key does not revoke its tokens');
      const reset = apiKeyOf(
        await env.request('POST', `${apiKeyPath(sub.id)}/RAX-AUTH/reset`, { token: sub.token }),
      );
      accessOf(await apiKeyLogin(env, sub.username, reset.apiKey));
    });

    test('a sub-user cannot delete another user’s API key', async () => {
      const sub = await createUserVia(env, owner, 'sub');
      assertFault(await env.request('DELETE', apiKeyPath(owner.id), { token: sub.token }), 403, 'forbidden');
      accessOf(await apiKeyLogin(env, owner.username, owner.apiKey));
    });

    test('setting a password through OS-KSADM/credentials: 201, echoed, and every token revoked', async () => {
      for (const suffix of ['', '/passwordCredentials']) {
        const sub = await createUserVia(env, owner, 'sub');
        const byKey = tokenOf(await apiKeyLogin(env, sub.username, sub.apiKey));
        const response = await env.request('POST', `${credentialsPath(sub)}${suffix}`, {
          token: owner.token,
          body: { passwordCredentials: { username: sub.username, password: 'Resetpass1' } },
        });
        assert.equal(response.status, 201, response.text);
        assert.deepEqual(response.body, {
          passwordCredentials: { username: sub.username, password: 'Resetpass1' },
        });
        assert.equal(await alive(sub.token), false);
        assert.equal(await alive(byKey), false);
        assert.equal(await alive(owner.token), true);
        assertFault(await passwordLogin(env, sub.username), 401, 'unauthorized', Messages.badPassword);
        accessOf(await passwordLogin(env, sub.username, 'Resetpass1'));
      }
    });

    test('a user sets its own password through OS-KSADM/credentials, which ends its own session', async () => {
      const sub = await createUserVia(env, owner, 'sub');
      const response = await env.request('POST', credentialsPath(sub), {
        token: sub.token,
        body: { passwordCredentials: { password: 'Mynewpass9' } },
      });
      assert.equal(response.status, 201, response.text);
      assert.equal(await alive(sub.token), false);
      accessOf(await passwordLogin(env, sub.username, 'Mynewpass9'));
    });

    test('a weak password, a mismatched username or a malformed body is a 400 and changes nothing', async () => {
      const sub = await createUserVia(env, owner, 'sub');
      assertFault(
        await env.request('POST', credentialsPath(sub), {
          token: owner.token,
          body: { passwordCredentials: { username: sub.username, password: 'weak' } },
        }),
        400,
        'badRequest',
        POLICY_MESSAGE,
      );
      assertFault(
        await env.request('POST', credentialsPath(sub), {
          token: owner.token,
          body: { passwordCredentials: { username: owner.username, password: 'Resetpass1' } },
        }),
        400,
        'badRequest',
      );
      for (const body of [{}, { passwordCredentials: {} }, { passwordCredentials: { password: 7 } }]) {
        assertFault(
          await env.request('POST', credentialsPath(sub), { token: owner.token, body }),
          400,
          'badRequest',
        );
      }
      assert.equal(await alive(sub.token), true);
      accessOf(await passwordLogin(env, sub.username));
    });

    test('a sub-user cannot set another user’s password', async () => {
      const sub = await createUserVia(env, owner, 'sub');
      assertFault(
        await env.request('POST', credentialsPath(owner), {
          token: sub.token,
          body: { passwordCredentials: { username: owner.username, password: 'Resetpass1' } },
        }),
        403,
        'forbidden',
      );
      accessOf(await passwordLogin(env, owner.username));
    });

    test('credentials of an unknown user are 404; without a token 401', async () => {
      const unknown = '0'.repeat(32);
      assertFault(await env.request('GET', apiKeyPath(unknown), { token: admin.token }), 404, 'itemNotFound');
      assertFault(
        await env.request('GET', `/v2.0/users/${unknown}/OS-KSADM/credentials`, { token: admin.token }),
        404,
        'itemNotFound',
      );
      assertFault(
        await env.request('POST', `${apiKeyPath(unknown)}/RAX-AUTH/reset`, { token: admin.token }),
        404,
        'itemNotFound',
      );
      assertFault(await env.request('GET', apiKeyPath(owner.id)), 401, 'unauthorized', Messages.noToken);
      assertFault(
        await env.request('POST', `${apiKeyPath(owner.id)}/RAX-AUTH/reset`),
        401,
        'unauthorized',
        Messages.noToken,
      );
      assertFault(await env.request('DELETE', apiKeyPath(owner.id)), 401, 'unauthorized', Messages.noToken);
    });
  });
}
