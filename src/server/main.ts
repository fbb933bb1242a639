import fs from 'node:fs';
import { createRequire } from 'node:module';
import net from 'node:net';
import path from 'node:path';
import type { KyselyPlugin } from 'kysely';
import pino, { type Logger } from 'pino';
import { type Config, ConfigError } from '../config/config.js';
import { type Clock, systemClock } from '../core/clock.js';
import { ApiError } from '../core/errors.js';
import { openHashKey } from '../crypto/hash-key.js';
import { type KeyRing, loadOrCreateKeyRingFile, parseKeyRing } from '../crypto/key-ring.js';
import { PasswordHasher } from '../crypto/password-hasher.js';
import { Metrics } from '../http/metrics.js';
import type { HttpServer } from '../http/server-instance.js';
import { findUserByUsername, insertUser, validatePassword } from '../identity/users.js';
import { createSmsSender } from '../notify/create.js';
import type { SmsSender } from '../notify/sms-sender.js';
import type { Deps } from '../services/deps.js';
import { connect, migrateToLatest, type Store, sqliteFileOf } from '../store/connect.js';
import { lockDataDirectory } from '../store/data-dir-lock.js';
import { type TightenResult, tightenPrivateFiles } from '../store/private-files.js';
import { redisWindowCounter, sqlWindowCounter } from '../store/window-counter.js';
import { type AppDeps, buildApp } from './app.js';
import { batchedLines } from './batched-lines.js';
import { pruneExpired } from './housekeeping.js';
import { databaseStartupError, listenStartupError } from './startup-error.js';

/** Header and body fields that carry secrets never reach a log line. */
export const LOG_REDACTIONS = [
  'req.headers["x-auth-token"]',
  'req.headers["x-sessionid"]',
  'req.headers.authorization',
  '*.password',
  '*.apiKey',
  '*.passcode',
];

/**
 * Standard output for collectors, in batches of about 64 KiB written at most 200 ms after their
 * first line (batched-lines.ts). The batches are written synchronously, as pino writes by
 * default: handing each one to libuv's thread pool cost more than the write itself. A reader
 * that stops reading costs at most `maxLength` bytes of memory: past it, lines are dropped
 * rather than held.
 */
function bufferedStdout(): pino.DestinationStream {
  const destination = pino.destination({ dest: 1, sync: true, maxLength: 16 * 1024 * 1024 });
  return batchedLines(destination, { characters: 64 * 1024, maxDelayMs: 200 });
}

/**
 * Log lines are JSON, one a line, for collectors; on a terminal they are made readable (time,
 * level, message, then the fields) with pino-pretty, loaded only then. Colour as the CLI does it:
 * never with NO_COLOR.
 */
export function createLogger(config: Pick<Config, 'logLevel'>, destination?: pino.DestinationStream): Logger {
  const options = { level: config.logLevel, redact: { paths: LOG_REDACTIONS, censor: '[redacted]' } };
  if (destination) return pino(options, destination);
  if (!process.stdout.isTTY) return pino(options, bufferedStdout());
  const pretty = createRequire(import.meta.url)('pino-pretty') as typeof import('pino-pretty');
  return pino(
    options,
    pretty({
      colorize: (process.env.NO_COLOR ?? '') === '',
      translateTime: 'SYS:yyyy-mm-dd HH:MM:ss.l',
      ignore: 'pid,hostname',
      sync: true,
    }),
  );
}

function loadCatalog(file: string | undefined): unknown[] {
  if (file === undefined) return [];
  let parsed: unknown;
  try {
    parsed = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (error) {
    throw new ConfigError('LATCHKEY_CATALOG_FILE', `cannot read ${file}: ${(error as Error).message}`);
  }
  if (!Array.isArray(parsed))
    throw new ConfigError('LATCHKEY_CATALOG_FILE', 'must hold a JSON array of services');
  return parsed;
}

/** The key ring file in the data directory, made on first start: written once the store has opened. */
function keyRingFromDataDir(config: Config, log: Logger): KeyRing {
  const { ring, created, file } = loadOrCreateKeyRingFile(config.dataDir);
  log.warn(
    { file, created },
    'LATCHKEY_SECRET_KEYS is not set: using a key ring generated into the data directory. Back it up; set LATCHKEY_SECRET_KEYS in production.',
  );
  return ring;
}

export interface DepsOverrides {
  clock?: Clock;
  sms?: SmsSender;
  log?: Logger;
  keys?: KeyRing;
  schema?: string;
  /** Redis keys start with this (tests keep their runs apart with it). */
  redisKeyPrefix?: string;
  /** Kysely plugins for the store (tests count statements with one). */
  plugins?: KyselyPlugin[];
}

async function openStore(config: Config, overrides: DepsOverrides): Promise<Store> {
  let store: Store | undefined;
  const { schema, plugins } = overrides;
  try {
    store = connect(config.databaseUrl, { ...(schema ? { schema } : {}), ...(plugins ? { plugins } : {}) });
    await migrateToLatest(store);
    return store;
  } catch (error) {
    await store?.close().catch(() => undefined);
    throw databaseStartupError(error, config.databaseUrl);
  }
}

/** Wire config into the dependencies every entry point (server, CLI, tests) shares. */
export async function createDeps(config: Config, overrides: DepsOverrides = {}): Promise<AppDeps> {
  const log = overrides.log ?? createLogger(config);
  const clock = overrides.clock ?? systemClock;
  // What can be checked without writing is checked first: a bad catalog or LATCHKEY_SECRET_KEYS,
  // then a database that cannot be reached, each refuse the start before a key ring file is made.
  const catalog = loadCatalog(config.catalogFile);
  const configuredRing = overrides.keys ?? (config.secretKeys ? parseKeyRing(config.secretKeys) : undefined);
  const store = await openStore(config, overrides);
  let keys: KeyRing;
  try {
    const ring = configuredRing ?? keyRingFromDataDir(config, log);
    try {
      keys = await openHashKey(store.db, ring, clock.now());
    } catch (error) {
      throw databaseStartupError(error, config.databaseUrl);
    }
  } catch (error) {
    await store.close();
    throw error;
  }
  return {
    config,
    store,
    db: store.db,
    counters: config.redisUrl
      ? redisWindowCounter(config.redisUrl, overrides.redisKeyPrefix)
      : sqlWindowCounter(store.db),
    clock,
    keys,
    passwords: new PasswordHasher(config.argon2),
    sms: overrides.sms ?? createSmsSender(config, clock),
    log,
    metrics: new Metrics(store.poolStats ? { pool: store.poolStats } : {}),
    catalog,
  };
}

/** A weak LATCHKEY_BOOTSTRAP_ADMIN_PASSWORD is refused before anything is written or opened. */
export function checkBootstrapPassword(config: Pick<Config, 'bootstrapAdmin'>): void {
  if (!config.bootstrapAdmin) return;
  try {
    validatePassword(config.bootstrapAdmin.password);
  } catch {
    throw new ConfigError(
      'LATCHKEY_BOOTSTRAP_ADMIN_PASSWORD',
      'needs 8+ characters with upper, lower and digit',
    );
  }
}

/**
 * LATCHKEY_BOOTSTRAP_ADMIN_*: create the first identity:admin when it does not exist yet. Without
 * them, says whether there is nobody yet: the hint to create someone is logged once listening.
 */
export async function bootstrap(deps: Deps): Promise<{ noUsers: boolean }> {
  const admin = deps.config.bootstrapAdmin;
  if (admin) {
    if (!(await findUserByUsername(deps.db, admin.username))) {
      checkBootstrapPassword(deps.config);
      try {
        await insertUser(
          deps,
          { userId: null, source: 'bootstrap' },
          {
            username: admin.username,
            password: admin.password,
            role: 'identity:admin',
            domainId: null,
            defaultRegion: '',
          },
        );
      } catch (error) {
        // Instances started together race to create it: the one that loses finds it made.
        if (error instanceof ApiError && error.status === 409) return { noUsers: false };
        throw error;
      }
      deps.log.info({ username: admin.username }, 'bootstrap administrator created');
    }
    return { noUsers: false };
  }
  const anyone = await deps.db.selectFrom('users').select('id').limit(1).executeTakeFirst();
  return { noUsers: !anyone };
}

export const NO_USERS_HINT =
  'No users yet. Create the first administrator with: npx latchkey server create-user --username admin --role identity:admin (it asks for the password; --password-stdin reads it from standard input)';

/**
 * The address is tried before anything is written: a port in use refuses the start before a key
 * ring, a database file or a lock exists. The real listen still reports a port taken meanwhile.
 */
async function checkPortFree(host: string, port: number): Promise<void> {
  if (port === 0) return;
  const probe = net.createServer();
  try {
    await new Promise<void>((resolve, reject) => {
      probe.once('error', reject);
      probe.listen({ host, port, exclusive: true }, resolve);
    });
  } catch (error) {
    throw listenStartupError(error, host, port);
  } finally {
    await new Promise<void>((resolve) => (probe.listening ? probe.close(() => resolve()) : resolve()));
  }
}

export interface RunningServer {
  app: HttpServer;
  deps: AppDeps;
  url: string;
  close(): Promise<void>;
}

/**
 * How long a stop waits for requests in flight before it closes their connections, so the whole
 * stop fits in the 10 s a supervisor (systemd's default is 90 s, Kubernetes' 30 s) may be told.
 */
export const SHUTDOWN_GRACE_MS = 8_000;

/** The data directory and its private files made the owner's alone, before anything opens them. */
function tightenFileModes(config: Config, sqliteFile: string | undefined): TightenResult {
  const extra = [config.sms.outboxFile];
  if (sqliteFile !== undefined && sqliteFile !== ':memory:')
    extra.push(sqliteFile, `${sqliteFile}-wal`, `${sqliteFile}-shm`, `${sqliteFile}-journal`);
  return tightenPrivateFiles(config.dataDir, extra);
}

function reportFileModes(log: Logger, result: TightenResult): void {
  if (result.changed.length > 0) {
    log.warn(
      { tightened: result.changed.map((change) => `${change.path} ${change.from} -> ${change.to}`) },
      'made the data directory and its private files readable by their owner only',
    );
  }
  for (const failure of result.failed) {
    log.error({ path: failure.path, reason: failure.reason }, 'could not make a private file private');
  }
}

export async function startServer(config: Config, overrides: DepsOverrides = {}): Promise<RunningServer> {
  // Checks that write nothing come first: a refused start leaves the data directory as it was.
  checkBootstrapPassword(config);
  await checkPortFree(config.host, config.port);
  // One server process per embedded database, held before migrations run (data-dir-lock.ts).
  const sqliteFile = sqliteFileOf(config.databaseUrl);
  const modes = tightenFileModes(config, sqliteFile);
  let lock: ReturnType<typeof lockDataDirectory> | undefined;
  if (sqliteFile !== undefined && sqliteFile !== ':memory:') {
    try {
      lock = lockDataDirectory(path.dirname(path.resolve(sqliteFile)));
    } catch (error) {
      // Another process holding it has its own message; anything else is the database's path.
      if (error instanceof Error && error.name === 'DataDirectoryInUse') throw error;
      throw databaseStartupError(error, config.databaseUrl);
    }
  }
  let deps: AppDeps;
  try {
    deps = await createDeps(config, overrides);
  } catch (error) {
    lock?.release();
    throw error;
  }
  reportFileModes(deps.log, modes);
  let app: HttpServer;
  let noUsers: boolean;
  try {
    ({ noUsers } = await bootstrap(deps));
    app = buildApp(deps);
    try {
      await app.listen({ host: config.host, port: config.port });
    } catch (error) {
      await app.close();
      throw listenStartupError(error, config.host, config.port);
    }
  } catch (error) {
    // A port in use or a bad bootstrap password: let go of everything, the lock included.
    await deps.counters.close();
    await deps.store.close();
    lock?.release();
    throw error;
  }
  // Said once the server is up, so that a failed start shows its error alone.
  if (noUsers) deps.log.warn(NO_USERS_HINT);
  const address = app.server.address();
  const port = typeof address === 'object' && address ? address.port : config.port;
  const url = `http://${config.host.includes(':') ? `[${config.host}]` : config.host}:${port}`;
  const housekeeping = setInterval(() => {
    pruneExpired(deps).catch((error: unknown) => deps.log.error({ err: error }, 'housekeeping failed'));
  }, 60 * 60_000);
  housekeeping.unref();
  await pruneExpired(deps);
  let closing: Promise<void> | undefined;
  return {
    app,
    deps,
    url,
    close: () => {
      closing ??= (async () => {
        clearInterval(housekeeping);
        // app.close() stops accepting, answers 503 to requests that arrive on open connections,
        // closes idle keep-alive connections and waits for the requests in flight; a client that
        // never finishes its request loses its connection once the grace period is over.
        const overdue = setTimeout(() => app.server.closeAllConnections(), SHUTDOWN_GRACE_MS);
        try {
          await app.close();
        } finally {
          clearTimeout(overdue);
        }
        await deps.counters.close();
        await deps.store.close();
        lock?.release();
      })();
      return closing;
    },
  };
}
