import fs from 'node:fs';
import path from 'node:path';
import SqliteDatabase from 'better-sqlite3';
import { Kysely, Migrator, PostgresDialect, SqliteDialect, sql } from 'kysely';
import pg from 'pg';
import { migrationProvider } from './migrations/index.js';
import type { Database } from './schema.js';

export type Dialect = 'sqlite' | 'postgres';

export interface Store {
  db: Kysely<Database>;
  dialect: Dialect;
  /**
   * Embedded SQLite only: a number that changes whenever this process writes to the database.
   * The embedded store belongs to one server process, so while it stays the same, anything read
   * from the database since is still exactly what the database holds. Absent for PostgreSQL,
   * where other instances write too.
   */
  writeGeneration?: () => number;
  /** Answers true when the database responds (health check). */
  ping(): Promise<boolean>;
  close(): Promise<void>;
}

// PostgreSQL returns int8 as strings; our int8 columns hold epoch milliseconds, which fit a double.
pg.types.setTypeParser(pg.types.builtins.INT8, (value) => Number(value));

/**
 * Kysely prepares every query anew, and preparing costs SQLite more than running a small
 * indexed lookup. Prepared statements are reusable (better-sqlite3 runs them synchronously, one
 * at a time on this connection), so keep them by SQL text; the set of distinct queries is
 * bounded by the code, with a cap in case a query embeds a variable list length.
 *
 * Kysely prepares a statement right before running it, so this is also where every write
 * passes: SQLite itself says which statements may write (sqlite3_stmt_readonly, which counts
 * UPDATE ... RETURNING as a write), and each of those moves the write generation.
 */
function withStatementCache(database: SqliteDatabase.Database): {
  database: SqliteDatabase.Database;
  writeGeneration: () => number;
} {
  const cache = new Map<string, { statement: SqliteDatabase.Statement; writes: boolean }>();
  const prepare = database.prepare.bind(database);
  let generation = 0;
  const proxy = new Proxy(database, {
    get(target, property, receiver) {
      if (property !== 'prepare') {
        const value: unknown = Reflect.get(target, property, receiver);
        // Native methods must run with the real database as `this`, not the proxy.
        return typeof value === 'function' ? value.bind(target) : value;
      }
      return (source: string) => {
        let entry = cache.get(source);
        if (!entry) {
          const statement = prepare(source);
          entry = { statement, writes: !statement.readonly };
          if (cache.size >= 500) cache.clear();
          cache.set(source, entry);
        }
        if (entry.writes) generation++;
        return entry.statement;
      };
    },
  });
  return { database: proxy, writeGeneration: () => generation };
}

export interface ConnectOptions {
  /** PostgreSQL only: a schema to use (and create) instead of public; tests get a fresh one per run. */
  schema?: string;
  poolSize?: number;
}

export function connect(url: string, options: ConnectOptions = {}): Store {
  if (url.startsWith('sqlite:')) {
    const file = url.slice('sqlite:'.length).replace(/^\/\/(?=\/)/, '');
    if (file !== ':memory:') fs.mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
    const database = new SqliteDatabase(file);
    database.pragma('journal_mode = WAL');
    database.pragma('synchronous = NORMAL');
    database.pragma('foreign_keys = ON');
    database.pragma('busy_timeout = 5000');
    const cached = withStatementCache(database);
    const db = new Kysely<Database>({ dialect: new SqliteDialect({ database: cached.database }) });
    return {
      db,
      dialect: 'sqlite',
      writeGeneration: cached.writeGeneration,
      ping: async () => {
        await sql`select 1`.execute(db);
        return true;
      },
      close: () => db.destroy(),
    };
  }
  const pool = new pg.Pool({
    connectionString: url,
    max: options.poolSize ?? 10,
    connectionTimeoutMillis: 5000,
    ...(options.schema ? { options: `-c search_path=${options.schema}` } : {}),
  });
  const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
  return {
    db,
    dialect: 'postgres',
    ping: async () => {
      await sql`select 1`.execute(db);
      return true;
    },
    close: () => db.destroy(),
  };
}

export async function migrateToLatest(store: Store): Promise<string[]> {
  const { db } = store;
  // Without an explicit schema Kysely looks for its bookkeeping tables in every schema of the
  // database, and another schema's copy would hide ours: name the schema we run in.
  const schema =
    store.dialect === 'postgres'
      ? (await sql<{ schema: string }>`select current_schema() as schema`.execute(db)).rows[0]?.schema
      : undefined;
  const migrator = new Migrator({
    db,
    provider: migrationProvider,
    ...(schema ? { migrationTableSchema: schema } : {}),
  });
  const { error, results } = await migrator.migrateToLatest();
  if (error) throw error instanceof Error ? error : new Error(String(error));
  return (results ?? [])
    .filter((result) => result.status === 'Success')
    .map((result) => result.migrationName);
}
