import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { KyselyPlugin, PluginTransformQueryArgs, PluginTransformResultArgs } from 'kysely';
import { sqlWindowCounter } from '../src/store/window-counter.js';
import { createTestEnv, dialects, type TestEnv } from './support/harness.js';

/** Counts the statements the store runs. */
class StatementCounter implements KyselyPlugin {
  count = 0;
  transformQuery({ node }: PluginTransformQueryArgs) {
    return node;
  }
  async transformResult({ result }: PluginTransformResultArgs) {
    this.count++;
    return result;
  }
}

const WINDOW = 600_000;

for (const dialect of dialects()) {
  describe(`per-source failure counts in the database (${dialect})`, () => {
    let env: TestEnv;
    const statements = new StatementCounter();
    before(async () => {
      env = await createTestEnv({ dialect, plugins: [statements] });
    });
    after(() => env.close());

    const stored = async (key: string) =>
      (
        await env.deps.db
          .selectFrom('source_failures')
          .select('count')
          .where('source', '=', key)
          .executeTakeFirst()
      )?.count;

    test('a slot given back costs no statement of its own: the next take takes it off, and failures still count', async () => {
      const counter = sqlWindowCounter(env.deps.db);
      const key = 'login-failures:198.51.100.40';
      // Ten successes: each takes a slot and gives it back; the count never grows.
      for (let login = 0; login < 10; login++) {
        const before = statements.count;
        assert.equal(await counter.take(key, 0, WINDOW, 3), 1);
        await counter.giveBack(key, 0);
        assert.equal(statements.count - before, 1, 'one statement per success');
      }
      // Then three failures take the three slots, and the fourth attempt is refused.
      assert.equal(await counter.take(key, 0, WINDOW, 3), 1);
      assert.equal(await counter.take(key, 0, WINDOW, 3), 2);
      assert.equal(await counter.take(key, 0, WINDOW, 3), 3);
      assert.equal(await counter.take(key, 0, WINDOW, 3), undefined);
      assert.equal(await stored(key), 3);
      await counter.close();
    });

    test('what one instance owes only ever makes the stored count too high, and is written when it stops', async () => {
      const first = sqlWindowCounter(env.deps.db);
      const second = sqlWindowCounter(env.deps.db);
      const key = 'login-failures:198.51.100.41';
      assert.equal(await first.take(key, 0, WINDOW, 2), 1);
      await first.giveBack(key, 0);
      // The other instance sees the slot until it is written: refused a moment early, never late.
      assert.equal(await second.take(key, 0, WINDOW, 2), 2);
      assert.equal(await second.take(key, 0, WINDOW, 2), undefined);
      // The first takes off what it owes as it takes again: one real failure each, two in all.
      assert.equal(await first.take(key, 0, WINDOW, 2), 2);
      assert.equal(await first.take(key, 0, WINDOW, 2), undefined);
      await first.giveBack(key, 0);
      assert.equal(await stored(key), 2, 'the slot given back is still owed');
      await first.close();
      assert.equal(await stored(key), 1, 'written when the instance stops');
      await second.close();
    });

    test('a take refused at the limit keeps what is owed for the next one', async () => {
      const counter = sqlWindowCounter(env.deps.db);
      const key = 'login-failures:198.51.100.42';
      assert.equal(await counter.take(key, 0, WINDOW, 1), 1);
      await counter.giveBack(key, 0);
      // Another instance fills the window meanwhile.
      await env.deps.db.updateTable('source_failures').set({ count: 2 }).where('source', '=', key).execute();
      assert.equal(await counter.take(key, 0, WINDOW, 1), undefined);
      await counter.close();
      assert.equal(await stored(key), 1);
    });
  });
}
