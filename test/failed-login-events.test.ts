import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { pruneExpired } from '../src/server/housekeeping.js';
import {
  createAccount,
  createAdmin,
  createTestEnv,
  dialects,
  passwordLogin,
  type TestEnv,
  type TestUser,
} from './support/harness.js';

const MINUTE = 60_000;
const DAY = 24 * 60 * MINUTE;

interface EventBody {
  type: string;
  userId: string | null;
  source: string | null;
  detail: Record<string, unknown>;
  count: number;
}

for (const dialect of dialects()) {
  describe(`what failed logins cost (${dialect})`, () => {
    let env: TestEnv;
    let admin: TestUser;
    before(async () => {
      env = await createTestEnv({ dialect, env: { LATCHKEY_PASSWORD_LOCKOUT_ATTEMPTS: '0' } });
      admin = await createAdmin(env);
    });
    after(() => env.close());

    const failures = async (source: string) => {
      const response = await env.request('GET', '/v2.0/RAX-AUTH/events?type=login.failed&limit=1000', {
        token: admin.token,
      });
      assert.equal(response.status, 200, response.text);
      return (response.body.events as unknown as EventBody[]).filter((event) => event.source === source);
    };

    test('regression: an unknown username was stored as typed; now only its keyed hash is', async () => {
      const typedPassword = 'MySecretPassword9';
      const source = '198.51.100.40';
      assert.equal((await passwordLogin(env, typedPassword, 'whatever1A', source)).status, 401);
      const [event] = await failures(source);
      assert.ok(event);
      assert.match(String(event.detail.usernameHash), /^[0-9a-f]{64}$/);
      const everything = await env.deps.db
        .selectFrom('security_events')
        .select(['detail', 'source'])
        .execute();
      assert.ok(
        everything.every((row) => !row.detail.toLowerCase().includes(typedPassword.toLowerCase())),
        'the name typed is nowhere in the events',
      );
      // The same name gives the same hash (an administrator can look one up), another name another.
      await passwordLogin(env, typedPassword.toUpperCase(), 'whatever1A', '198.51.100.41');
      await passwordLogin(env, 'someone-else', 'whatever1A', '198.51.100.41');
      const hashes = (await failures('198.51.100.41')).map((other) => other.detail.usernameHash);
      assert.ok(hashes.includes(event.detail.usernameHash));
      assert.equal(new Set(hashes).size, 2);
    });

    test('regression: every failure wrote a row; now one event per source, subject and minute, with a count', async () => {
      const user = await createAccount(env, admin);
      const source = '198.51.100.42';
      for (let attempt = 0; attempt < 40; attempt++) {
        await passwordLogin(env, user.username, 'Wrongpass1', source);
        await passwordLogin(env, 'nobody-here', 'Wrongpass1', source);
      }
      let events = await failures(source);
      assert.equal(events.length, 2, 'one for the user, one for the unknown name');
      assert.deepEqual(events.map((event) => event.count).sort(), [40, 40]);
      assert.ok(events.some((event) => event.userId === user.id));
      // The next minute starts new events.
      env.clock.advance(MINUTE);
      await passwordLogin(env, user.username, 'Wrongpass1', source);
      events = await failures(source);
      assert.equal(events.length, 3);
      const rows = await env.deps.db
        .selectFrom('security_events')
        .select((eb) => eb.fn.countAll<number>().as('rows'))
        .where('source', '=', source)
        .executeTakeFirstOrThrow();
      assert.equal(Number(rows.rows), 3, '81 failures, 3 rows');
    });

    test('failure events have their own retention (7 days by default), the others keep 90', async () => {
      const user = await createAccount(env, admin);
      const source = '198.51.100.43';
      await passwordLogin(env, user.username, 'Wrongpass1', source);
      env.clock.advance(8 * DAY);
      await pruneExpired(env.deps);
      const left = await env.deps.db
        .selectFrom('security_events')
        .select('type')
        .where('user_id', '=', user.id)
        .execute();
      const types = left.map((row) => row.type);
      assert.ok(!types.includes('login.failed'), 'the failure is gone after 7 days');
      assert.ok(types.includes('user.created'), 'the creation stays');
    });
  });
}
