import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createAccount, createTestEnv, dialects, passwordLogin, type TestEnv } from './support/harness.js';

for (const dialect of dialects()) {
  describe(`smoke (${dialect})`, () => {
    let env: TestEnv;
    before(async () => {
      env = await createTestEnv({ dialect });
    });
    after(() => env.close());

    test('an account owner logs in with a password and validates its own token', async () => {
      const owner = await createAccount(env);
      const login = await passwordLogin(env, owner.username);
      assert.equal(login.status, 200);
      const validated = await env.request('GET', `/v2.0/tokens/${owner.token}`, { token: owner.token });
      assert.equal(validated.status, 200);
    });
  });
}
