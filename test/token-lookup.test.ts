import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  type CompiledQuery,
  type DatabaseConnection,
  DummyDriver,
  Kysely,
  type QueryResult,
  SqliteAdapter,
  SqliteIntrospector,
  SqliteQueryCompiler,
} from 'kysely';
import { LiveTokenLookup, type LiveTokenRow } from '../src/access/token-lookup.js';
import { ManualClock } from '../src/core/clock.js';
import type { Database } from '../src/store/schema.js';

/**
 * A database whose queries each read the live tokens as they are when the query starts, and
 * finish only when the test lets them.
 */
function scriptedDatabase(live: Set<string>) {
  const started: { hashes: string[]; finish(): void }[] = [];
  const connection: DatabaseConnection = {
    async executeQuery<R>(query: CompiledQuery): Promise<QueryResult<R>> {
      const hashes = query.parameters.filter((value): value is string => typeof value === 'string');
      if (hashes.includes('broken')) throw new Error('connection lost');
      const rows = hashes
        .filter((hash) => live.has(hash))
        .map((hash) => ({ token_hash: hash }) as unknown as R);
      await new Promise<void>((finish) => started.push({ hashes, finish }));
      return { rows };
    },
    // biome-ignore lint/correctness/useYield: never streams
    async *streamQuery() {
      throw new Error('not used');
    },
  };
  // Several connections, as PostgreSQL's pool has (Kysely serialises connections for adapters that
  // say they have one, as SQLite's does).
  class ScriptedAdapter extends SqliteAdapter {
    override get supportsMultipleConnections(): boolean {
      return true;
    }
  }
  class ScriptedDriver extends DummyDriver {
    override async acquireConnection(): Promise<DatabaseConnection> {
      return connection;
    }
  }
  const db = new Kysely<Database>({
    dialect: {
      createAdapter: () => new ScriptedAdapter(),
      createDriver: () => new ScriptedDriver(),
      createIntrospector: (kysely) => new SqliteIntrospector(kysely),
      createQueryCompiler: () => new SqliteQueryCompiler(),
    },
  });
  return { db, started };
}

const settle = () => new Promise((resolve) => setImmediate(resolve));

describe('token lookups', () => {
  test('lookups that arrive while queries run share the next query, and never an earlier one', async () => {
    const live = new Set(['a', 'b', 'c']);
    const { db, started } = scriptedDatabase(live);
    const lookup = new LiveTokenLookup(db, new ManualClock(0));
    const first = lookup.find(['a']);
    const second = lookup.find(['b']);
    await settle();
    assert.equal(started.length, 2, 'two queries run at once');

    // Revoked while both run: whoever asks now must not get an answer read before.
    live.delete('a');
    const third = lookup.find(['a']);
    const fourth = lookup.find(['c']);
    const fifth = lookup.find(['c']);
    await settle();
    assert.equal(started.length, 2, 'the later lookups wait');
    started[0]?.finish();
    await settle();
    assert.equal(started.length, 3, 'the waiting lookups go in one query');
    assert.deepEqual(started[2]?.hashes, ['a', 'c']);
    for (const query of started) query.finish();

    const found = async (promise: Promise<LiveTokenRow | undefined>) => (await promise)?.token_hash;
    assert.equal(await found(first), 'a');
    assert.equal(await found(second), 'b');
    assert.equal(await found(third), undefined);
    assert.equal(await found(fourth), 'c');
    assert.equal(await found(fifth), 'c');
  });

  test('a failed query fails its own lookups, and later ones still run', async () => {
    const { db, started } = scriptedDatabase(new Set(['a']));
    const lookup = new LiveTokenLookup(db, new ManualClock(0));
    await assert.rejects(lookup.find(['broken']), /connection lost/);
    const after = lookup.find(['a']);
    await settle();
    started[0]?.finish();
    assert.equal((await after)?.token_hash, 'a');
  });
});
