import SqliteDatabase from 'better-sqlite3';
import {
  Kysely,
  type KyselyPlugin,
  type SqliteDatabase as KyselySqliteDatabase,
  PostgresDialect,
  SqliteDialect,
  sql,
} from 'kysely';
import { Migrator } from 'kysely/migration';
import pg from 'pg';
import { prepareSqliteFiles } from './data-dir-lock.js';
import { DropRowLocks, KeepJoinsPrepared } from './dialect-differences.js';
import { migrationProvider } from './migrations/index.js';
import { announcingTransactions, PostgresWriteListener } from './postgres-write-listener.js';
import type { Database } from './schema.js';
import { WriteFeed } from './write-feed.js';

export type Dialect = 'sqlite' | 'postgres';

export interface Store {
  db: Kysely<Database>;
  dialect: Dialect;
  /**
   * Every write that may change a row the process remembers. Embedded SQLite: the writes this
   * process makes, as its statements describe them (the store belongs to one server process;
   * beside it, the CLI only adds users), so these are all the writes there are. PostgreSQL: this
   * process's writes the same way, and every instance's committed writes to tokens, users and
   * accounts from the database's notifications (postgres-write-listener.ts).
   */
  writes?: WriteFeed;
  /**
   * PostgreSQL only: whether the feed is known complete right now (its listener connected and
   * proven recently). While it is not, nothing remembered may be used. Absent: always complete.
   */
  writesCurrent?: () => boolean;
  /** PostgreSQL only: the listening connection (tests wait for it and end it). */
  writeListener?: PostgresWriteListener;
  /** PostgreSQL only: the connection pool's counts, for the metrics. */
  poolStats?: () => PoolStats;
  /** Answers true when the database responds (health check). */
  ping(): Promise<boolean>;
  close(): Promise<void>;
}

export interface PoolStats {
  /** Open connections, in use or idle. */
  total: number;
  idle: number;
  /** Queries waiting for a connection. */
  waiting: number;
  max: number;
}

// PostgreSQL returns int8 as strings; our int8 columns hold epoch milliseconds, which fit a double.
pg.types.setTypeParser(pg.types.builtins.INT8, (value) => Number(value));

/**
 * Kysely prepares every query anew, and preparing costs SQLite more than running a small
 * indexed lookup. Prepared statements are reusable (better-sqlite3 runs them synchronously, one
 * at a time on this connection; nothing here streams a query, which would hold one open), so
 * the database handed to Kysely's SqliteDialect keeps them by SQL text. The set of distinct
 * queries is bounded by the code, with a cap in case a query embeds a variable list length.
 */
function withStatementCache(database: SqliteDatabase.Database): KyselySqliteDatabase {
  const statements = new Map<string, SqliteDatabase.Statement>();
  return {
    prepare(source) {
      let statement = statements.get(source);
      if (!statement) {
        statement = database.prepare(source);
        if (statements.size >= 500) statements.clear();
        statements.set(source, statement);
      }
      return statement;
    },
    close() {
      database.close();
    },
  };
}

export interface ConnectOptions {
  /** PostgreSQL only: a schema to use (and create) instead of public; tests get a fresh one per run. */
  schema?: string;
  poolSize?: number;
  /** More Kysely plugins, after the store's own (tests count statements with one). */
  plugins?: KyselyPlugin[];
}

/** The database file of a sqlite: URL; undefined for PostgreSQL. */
export function sqliteFileOf(url: string): string | undefined {
  return url.startsWith('sqlite:') ? url.slice('sqlite:'.length).replace(/^\/\/(?=\/)/, '') : undefined;
}

export function connect(url: string, options: ConnectOptions = {}): Store {
  const file = sqliteFileOf(url);
  if (file !== undefined) {
    if (file !== ':memory:') prepareSqliteFiles(file);
    const database = new SqliteDatabase(file);
    database.pragma('journal_mode = WAL');
    database.pragma('synchronous = NORMAL');
    database.pragma('foreign_keys = ON');
    database.pragma('busy_timeout = 5000');
    const writes = new WriteFeed();
    const db = new Kysely<Database>({
      dialect: new SqliteDialect({ database: withStatementCache(database) }),
      plugins: [writes, new DropRowLocks(), new KeepJoinsPrepared(), ...(options.plugins ?? [])],
    });
    return {
      db,
      dialect: 'sqlite',
      writes,
      ping: async () => {
        await sql`select 1`.execute(db);
        return true;
      },
      close: () => db.destroy(),
    };
  }
  const max = options.poolSize ?? 10;
  const clientConfig: pg.ClientConfig = {
    connectionString: url,
    connectionTimeoutMillis: 5000,
    ...(options.schema ? { options: `-c search_path=${options.schema}` } : {}),
  };
  const pool = new pg.Pool({ ...clientConfig, max });
  const writes = new WriteFeed();
  class AnnouncingDialect extends PostgresDialect {
    override createDriver() {
      return announcingTransactions(super.createDriver(), writes);
    }
  }
  const db = new Kysely<Database>({
    dialect: new AnnouncingDialect({ pool }),
    plugins: [writes, ...(options.plugins ?? [])],
  });
  const listener = new PostgresWriteListener(clientConfig, writes);
  return {
    db,
    dialect: 'postgres',
    writes,
    writesCurrent: () => listener.current(),
    writeListener: listener,
    poolStats: () => ({ total: pool.totalCount, idle: pool.idleCount, waiting: pool.waitingCount, max }),
    ping: async () => {
      await sql`select 1`.execute(db);
      return true;
    },
    close: async () => {
      await listener.close();
      await db.destroy();
    },
  };
}

async function migratorFor(store: Store): Promise<Migrator> {
  const { db } = store;
  // Without an explicit schema Kysely looks for its bookkeeping tables in every schema of the
  // database, and another schema's copy would hide ours: name the schema we run in.
  const schema =
    store.dialect === 'postgres'
      ? (await sql<{ schema: string }>`select current_schema() as schema`.execute(db)).rows[0]?.schema
      : undefined;
  return new Migrator({
    db,
    provider: migrationProvider,
    ...(schema ? { migrationTableSchema: schema } : {}),
  });
}

export async function migrateToLatest(store: Store): Promise<string[]> {
  const { error, results } = await (await migratorFor(store)).migrateToLatest();
  if (error) throw error instanceof Error ? error : new Error(String(error));
  return (results ?? [])
    .filter((result) => result.status === 'Success')
    .map((result) => result.migrationName);
}

/** Migrations this code knows that the database has not run (readiness). */
export async function pendingMigrations(store: Store): Promise<string[]> {
  const migrations = await (await migratorFor(store)).getMigrations();
  return migrations.filter((migration) => migration.executedAt === undefined).map((m) => m.name);
}
