import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { SOURCE_WINDOW_MS } from '../src/lockout/source-failures.js';
import { createTestEnv, dialects, type TestEnv } from './support/harness.js';
import { assertErrorPage, PanelClient } from './support/panel-client.js';

/**
 * "Log In with a Passkey" needs no account, and each start stores a challenge: one address may
 * start as many in a window as it may fail logins, so it cannot fill the database.
 */
// Passkeys are offered only at the public URL's name: every request is addressed to it.
const PUBLIC_URL = 'http://localhost';
const AT_PUBLIC_URL = { host: 'localhost', origin: PUBLIC_URL };

for (const dialect of dialects()) {
  describe(`starting a sign-in with a passkey alone (${dialect})`, () => {
    let env: TestEnv;
    before(async () => {
      env = await createTestEnv({
        dialect,
        env: { LATCHKEY_PUBLIC_URL: PUBLIC_URL, LATCHKEY_LOGIN_FAILURES_PER_SOURCE: '3' },
      });
    });
    after(() => env.close());

    const challenges = async (): Promise<number> =>
      Number(
        (
          await env.deps.db
            .selectFrom('passkey_challenges')
            .select((eb) => eb.fn.countAll().as('n'))
            .executeTakeFirstOrThrow()
        ).n,
      );

    test('the fourth start from one address in a window is a 429 that stores nothing; another address and the next window start', async () => {
      const client = new PanelClient(env, '198.51.100.7');
      await client.get('/sign-in', AT_PUBLIC_URL);
      const before = await challenges();
      for (let start = 1; start <= 3; start++) {
        const page = await client.post('/sign-in/with-passkey', {}, AT_PUBLIC_URL);
        assert.equal(page.status, 200, page.body.slice(0, 300));
      }
      assert.equal(await challenges(), before + 3);
      const refused = await client.post('/sign-in/with-passkey', {}, AT_PUBLIC_URL);
      assertErrorPage(refused, 429);
      assert.ok(Number(refused.headers['retry-after']) > 0, 'Retry-After says when to come back');
      assert.equal(await challenges(), before + 3, 'a refused start stores no challenge');

      const neighbour = new PanelClient(env, '203.0.113.9');
      await neighbour.get('/sign-in', AT_PUBLIC_URL);
      assert.equal((await neighbour.post('/sign-in/with-passkey', {}, AT_PUBLIC_URL)).status, 200);

      env.clock.advance(SOURCE_WINDOW_MS);
      assert.equal((await client.post('/sign-in/with-passkey', {}, AT_PUBLIC_URL)).status, 200);
    });
  });
}
