import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import type { KyselyPlugin } from 'kysely';
import pg from 'pg';
import { loadConfig } from '../../src/config/config.js';
import { ManualClock } from '../../src/core/clock.js';
import { KeyRing } from '../../src/crypto/key-ring.js';
import type { HttpServer } from '../../src/http/server-instance.js';
import { insertUser } from '../../src/identity/users.js';
import { FakeSmsSender } from '../../src/notify/fake.js';
import type { AppDeps } from '../../src/server/app.js';
import { buildApp } from '../../src/server/app.js';
import { createDeps, createLogger } from '../../src/server/main.js';
import { checkResponsesAgainstSchemas } from './response-contract.js';

export type DialectName = 'sqlite' | 'postgres';

/** SQLite always; PostgreSQL too when LATCHKEY_TEST_DATABASE_URL is set (CI sets it). */
export function dialects(): DialectName[] {
  return process.env.LATCHKEY_TEST_DATABASE_URL ? ['sqlite', 'postgres'] : ['sqlite'];
}

export interface Response {
  status: number;
  headers: Record<string, string | string[] | number | undefined>;
  body: Record<string, unknown> & Record<string, Record<string, unknown>>;
  text: string;
}

export interface TestEnv {
  app: HttpServer;
  deps: AppDeps;
  clock: ManualClock;
  sms: FakeSmsSender;
  /** Every log line written during the test, for "no secret in the log" checks. */
  logs: string[];
  dialect: DialectName;
  dataDir: string;
  /** Where the database is, for a second instance on it. */
  database: { url: string; schema: string | undefined };
  request(method: string, url: string, options?: RequestOptions): Promise<Response>;
  close(): Promise<void>;
}

export interface RequestOptions {
  token?: string;
  body?: unknown;
  headers?: Record<string, string>;
  /** The client's address as the server sees it (default 127.0.0.1). */
  remoteAddress?: string;
}

/** A fresh PostgreSQL schema per test environment, dropped on close. */
export async function freshPostgresSchema(): Promise<{ url: string; schema: string; drop(): Promise<void> }> {
  const url = process.env.LATCHKEY_TEST_DATABASE_URL;
  if (!url) throw new Error('LATCHKEY_TEST_DATABASE_URL is not set');
  const schema = `lk_test_${randomBytes(6).toString('hex')}`;
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  await client.query(`create schema ${schema}`);
  await client.end();
  return {
    url,
    schema,
    drop: async () => {
      const dropper = new pg.Client({ connectionString: url });
      await dropper.connect();
      await dropper.query(`drop schema if exists ${schema} cascade`);
      await dropper.end();
    },
  };
}

export const TEST_KEYS = `1:${Buffer.alloc(32, 7).toString('base64')}`;

export async function createTestEnv(
  options: {
    dialect?: DialectName;
    env?: Record<string, string>;
    clock?: ManualClock;
    /** Redis keys of this environment; two environments given the same prefix share counters. */
    redisKeyPrefix?: string;
    /** A database of the caller's (kept on close), instead of a fresh one. */
    databaseUrl?: string;
    /** PostgreSQL only, with databaseUrl: the caller's schema in that database. */
    schema?: string;
    /** Kysely plugins for the store (statement counts). */
    plugins?: KyselyPlugin[];
  } = {},
): Promise<TestEnv> {
  const dialect = options.databaseUrl?.startsWith('postgres') ? 'postgres' : (options.dialect ?? 'sqlite');
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'latchkey-test-'));
  let databaseUrl = options.databaseUrl ?? `sqlite:${path.join(dataDir, 'latchkey.db')}`;
  let schema: string | undefined = options.schema;
  let dropSchema: (() => Promise<void>) | undefined;
  if (dialect === 'postgres' && options.databaseUrl === undefined) {
    const fresh = await freshPostgresSchema();
    databaseUrl = fresh.url;
    schema = fresh.schema;
    dropSchema = fresh.drop;
  }
  const config = loadConfig({
    LATCHKEY_DATA_DIR: dataDir,
    LATCHKEY_DATABASE_URL: databaseUrl,
    LATCHKEY_SECRET_KEYS: TEST_KEYS,
    // Cheaper argon2id for the test suite; the benchmark uses the OWASP parameters.
    LATCHKEY_ARGON2_MEMORY_KIB: '1024',
    LATCHKEY_ARGON2_ITERATIONS: '1',
    LATCHKEY_LOG_LEVEL: 'debug',
    ...options.env,
  });
  const logs: string[] = [];
  // One entry per log line: the access log writes the lines of one turn together.
  const sink = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      for (const line of chunk.toString().split('\n')) if (line !== '') logs.push(`${line}\n`);
      callback();
    },
  });
  const clock = options.clock ?? new ManualClock(Date.UTC(2026, 10, 22, 12, 0, 0));
  const sms = new FakeSmsSender();
  let deps: AppDeps;
  try {
    deps = await createDeps(config, {
      clock,
      sms,
      log: createLogger(config, sink),
      keys: new KeyRing([{ id: '1', key: Buffer.alloc(32, 7) }]),
      redisKeyPrefix: options.redisKeyPrefix ?? `latchkey-test:${randomBytes(6).toString('hex')}:`,
      ...(schema ? { schema } : {}),
      ...(options.plugins ? { plugins: options.plugins } : {}),
    });
  } catch (error) {
    await dropSchema?.();
    fs.rmSync(dataDir, { recursive: true, force: true });
    throw error;
  }
  const app = buildApp(deps);
  checkResponsesAgainstSchemas(app);
  await app.ready();
  return {
    app,
    deps,
    clock,
    sms,
    logs,
    dialect,
    dataDir,
    database: { url: databaseUrl, schema },
    request: requester(app),
    async close() {
      await app.close();
      await deps.counters.close();
      await deps.store.close();
      await dropSchema?.();
      fs.rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

function requester(app: HttpServer): TestEnv['request'] {
  return async (method, url, requestOptions = {}) => {
    const headers: Record<string, string> = { ...requestOptions.headers };
    if (requestOptions.token) headers['x-auth-token'] = requestOptions.token;
    let payload: string | undefined;
    if (requestOptions.body !== undefined) {
      payload =
        typeof requestOptions.body === 'string' ? requestOptions.body : JSON.stringify(requestOptions.body);
      headers['content-type'] ??= 'application/json';
    }
    const response = await app.inject({
      method: method as 'GET',
      url,
      headers,
      ...(payload === undefined ? {} : { payload }),
      ...(requestOptions.remoteAddress === undefined ? {} : { remoteAddress: requestOptions.remoteAddress }),
    });
    let body: Response['body'] = {};
    if (response.body && response.headers['content-type']?.toString().includes('json')) {
      body = JSON.parse(response.body) as Response['body'];
    }
    return { status: response.statusCode, headers: response.headers, body, text: response.body };
  };
}

/**
 * Another instance on `env`'s database, with its own key ring (or env's): what a second server
 * process would be, in this process. Shares env's clock, SMS fake and log; close() closes only it.
 */
export async function createInstance(env: TestEnv, options: { keys?: KeyRing } = {}): Promise<TestEnv> {
  const deps = await createDeps(env.deps.config, {
    clock: env.clock,
    sms: env.sms,
    log: env.deps.log,
    keys: options.keys ?? env.deps.keys,
    ...(env.database.schema ? { schema: env.database.schema } : {}),
  });
  const app = buildApp(deps);
  checkResponsesAgainstSchemas(app);
  await app.ready();
  return {
    ...env,
    app,
    deps,
    request: requester(app),
    async close() {
      await app.close();
      await deps.counters.close();
      await deps.store.close();
    },
  };
}

export const PASSWORD = 'Secretpass1';

export interface TestUser {
  id: string;
  username: string;
  password: string;
  token: string;
  apiKey: string;
  domainId: string | null;
}

export async function passwordLogin(
  env: TestEnv,
  username: string,
  password = PASSWORD,
  remoteAddress?: string,
): Promise<Response> {
  return env.request('POST', '/v2.0/tokens', {
    body: { auth: { passwordCredentials: { username, password } } },
    ...(remoteAddress === undefined ? {} : { remoteAddress }),
  });
}

async function finishUser(env: TestEnv, id: string, username: string, password: string): Promise<TestUser> {
  const login = await passwordLogin(env, username, password);
  if (login.status !== 200) throw new Error(`login of ${username} failed: ${login.status} ${login.text}`);
  const access = login.body.access as { token: { id: string }; user: { 'RAX-AUTH:domainId'?: string } };
  const keyResponse = await env.request(
    'GET',
    `/v2.0/users/${id}/OS-KSADM/credentials/RAX-KSKEY:apiKeyCredentials`,
    { token: access.token.id },
  );
  const apiKey = (keyResponse.body['RAX-KSKEY:apiKeyCredentials'] as { apiKey: string }).apiKey;
  return {
    id,
    username,
    password,
    token: access.token.id,
    apiKey,
    domainId: access.user['RAX-AUTH:domainId'] ?? null,
  };
}

let counter = 0;
export function uniqueName(prefix: string): string {
  counter += 1;
  return `${prefix}${counter}${randomBytes(2).toString('hex')}`;
}

/** An identity:admin (or service-admin) made the way the CLI makes one, logged in. */
export async function createAdmin(
  env: TestEnv,
  role: 'identity:admin' | 'identity:service-admin' = 'identity:admin',
): Promise<TestUser> {
  const username = uniqueName(role === 'identity:admin' ? 'admin' : 'service');
  const user = await insertUser(
    env.deps,
    { userId: null, source: 'test' },
    {
      username,
      password: PASSWORD,
      role,
      domainId: null,
      defaultRegion: '',
    },
  );
  return finishUser(env, user.id, username, PASSWORD);
}

/** A user created over the API by `creator` (admin → user-admin, user-admin → sub-user). */
export async function createUserVia(env: TestEnv, creator: TestUser, prefix = 'user'): Promise<TestUser> {
  const username = uniqueName(prefix);
  const created = await env.request('POST', '/v2.0/users', {
    token: creator.token,
    body: {
      user: { username, email: `${username}@example.com`, enabled: true, 'OS-KSADM:password': PASSWORD },
    },
  });
  if (created.status !== 201) throw new Error(`create ${username} failed: ${created.status} ${created.text}`);
  return finishUser(env, (created.body.user as { id: string }).id, username, PASSWORD);
}

/** An account: its owner (user-admin, with a new domain) and, on request, sub-users. */
export async function createAccount(env: TestEnv, admin?: TestUser): Promise<TestUser> {
  return createUserVia(env, admin ?? (await createAdmin(env)), 'owner');
}

export async function setRole(env: TestEnv, user: TestUser, role: string): Promise<void> {
  await env.deps.db.updateTable('users').set({ role }).where('id', '=', user.id).execute();
}

/** Parse `OS-MF sessionId='…', factor='…'`. */
export function parseChallenge(response: Response): { sessionId: string; factor: string } {
  const header = String(response.headers['www-authenticate'] ?? '');
  const match = /^OS-MF sessionId='([^']+)', factor='([A-Z]+)'$/.exec(header);
  if (!match?.[1] || !match[2])
    throw new Error(`not an OS-MF challenge: '${header}' (${response.status} ${response.text})`);
  return { sessionId: match[1], factor: match[2] };
}
