import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { accessOf, apiKeyLogin, apiKeyPath, tokenOf, userOf } from './support/api.js';
import {
  createAdmin,
  createTestEnv,
  dialects,
  PASSWORD,
  passwordLogin,
  type TestEnv,
  type TestUser,
} from './support/harness.js';

for (const dialect of dialects()) {
  describe(`no secret reaches the log (${dialect})`, () => {
    let env: TestEnv;
    before(async () => {
      // The most talkative level, so nothing hides below the threshold.
      env = await createTestEnv({ dialect, env: { LATCHKEY_LOG_LEVEL: 'trace' } });
    });
    after(() => env.close());

    test('a full account lifecycle logs no password, API key, token id or token hash', async () => {
      const secrets = new Set<string>([PASSWORD]);
      const tokens = new Set<string>();
      const keep = (token: string) => {
        tokens.add(token);
        return token;
      };

      const admin: TestUser = await createAdmin(env);
      keep(admin.token);
      secrets.add(admin.apiKey);

      // An account owner, created with a password, and a sub-user with a generated one.
      const ownerName = 'lifecycle-owner';
      const created = await env.request('POST', '/v2.0/users', {
        token: admin.token,
        body: {
          user: { username: ownerName, email: 'owner@example.com', 'OS-KSADM:password': 'Ownerpass1' },
        },
      });
      assert.equal(created.status, 201, created.text);
      secrets.add('Ownerpass1');
      const ownerId = userOf(created).id;
      const owner = keep(tokenOf(await passwordLogin(env, ownerName, 'Ownerpass1')));

      const sub = await env.request('POST', '/v2.0/users', {
        token: owner,
        body: { user: { username: 'lifecycle-sub' } },
      });
      assert.equal(sub.status, 201, sub.text);
      const subId = userOf(sub).id;
      const generated = userOf(sub)['OS-KSADM:password'] ?? '';
      secrets.add(generated);

      // Failed logins carry the attempted secret in the request body.
      await passwordLogin(env, 'lifecycle-sub', 'Wrongguess7');
      secrets.add('Wrongguess7');
      await passwordLogin(env, 'no-such-user', 'Otherguess8');
      secrets.add('Otherguess8');

      const subToken = keep(tokenOf(await passwordLogin(env, 'lifecycle-sub', generated)));
      const key = await env.request('GET', apiKeyPath(subId), { token: subToken });
      const apiKey = (key.body['RAX-KSKEY:apiKeyCredentials'] as { apiKey: string }).apiKey;
      secrets.add(apiKey);
      const keyToken = keep(tokenOf(await apiKeyLogin(env, 'lifecycle-sub', apiKey)));
      await apiKeyLogin(env, 'lifecycle-sub', 'c'.repeat(32));
      secrets.add('c'.repeat(32));

      // Tenant scoping, validation (token ids in the URL), endpoints, HEAD.
      accessOf(
        await env.request('POST', '/v2.0/tokens', {
          body: { auth: { token: { id: keyToken }, tenantId: userOf(created)['RAX-AUTH:domainId'] } },
        }),
      );
      assert.equal((await env.request('GET', `/v2.0/tokens/${keyToken}`, { token: owner })).status, 200);
      assert.equal(
        (await env.request('HEAD', `/v2.0/tokens/${subToken}`, { token: admin.token })).status,
        200,
      );
      await env.request('GET', `/v2.0/tokens/${keyToken}/endpoints`, { token: keyToken });
      await env.request('GET', `/v2.0/tokens/${'e'.repeat(32)}`, { token: owner });

      // API key reset, password change (self and by the owner), credential set, revocation.
      const reset = await env.request('POST', `${apiKeyPath(subId)}/RAX-AUTH/reset`, { token: subToken });
      secrets.add((reset.body['RAX-KSKEY:apiKeyCredentials'] as { apiKey: string }).apiKey);
      assert.equal(
        (
          await env.request('POST', `/v2.0/users/${subId}`, {
            token: subToken,
            body: { user: { 'OS-KSADM:password': 'Selfchange2' } },
          })
        ).status,
        200,
      );
      secrets.add('Selfchange2');
      await env.request('POST', `/v2.0/users/${subId}`, {
        token: owner,
        body: { user: { 'OS-KSADM:password': 'weakpassword' } },
      });
      secrets.add('weakpassword');
      await env.request('POST', `/v2.0/users/${subId}/OS-KSADM/credentials`, {
        token: owner,
        body: { passwordCredentials: { username: 'lifecycle-sub', password: 'Ownerset3' } },
      });
      secrets.add('Ownerset3');
      const late = keep(tokenOf(await passwordLogin(env, 'lifecycle-sub', 'Ownerset3')));
      assert.equal((await env.request('DELETE', `/v2.0/tokens/${late}`, { token: owner })).status, 204);
      const last = keep(tokenOf(await passwordLogin(env, 'lifecycle-sub', 'Ownerset3')));
      assert.equal((await env.request('DELETE', '/v2.0/tokens', { token: last })).status, 204);
      // A revoked or unknown token presented as X-Auth-Token.
      await env.request('GET', '/v2.0/users', { token: last });
      await env.request('DELETE', apiKeyPath(subId), { token: owner });
      await env.request('DELETE', `/v2.0/users/${subId}`, { token: owner });
      await env.request('GET', `/v2.0/users/${ownerId}`, { token: owner });

      for (const token of tokens) {
        secrets.add(token);
        for (const hash of env.deps.keys.hashCandidates(token)) secrets.add(hash);
      }

      assert.ok(env.logs.length > 20, 'the flow was logged');
      assert.ok(env.logs.some((line) => line.includes('"route":"/v2.0/tokens/:tokenId"')));
      for (const line of env.logs) {
        for (const secret of secrets) {
          assert.ok(secret.length >= 4);
          assert.ok(!line.includes(secret), `a secret appears in the log line ${line}`);
        }
      }
    });
  });
}
