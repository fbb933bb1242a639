import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { loadConfig } from '../src/config/config.js';
import { bootstrap, createDeps } from '../src/server/main.js';
import { startServer as startServerProcess } from './support/cli.js';
import { freshPostgresSchema, TEST_KEYS } from './support/harness.js';
import { childEnv } from './support/process.js';

/**
 * What an operator sees when latchkey cannot start for a reason outside it: one line on stderr
 * that says what to do, no stack trace, and a non-zero exit.
 */
const ROOT = path.resolve(import.meta.dirname, '..');
const PG_URL = process.env.LATCHKEY_TEST_DATABASE_URL;

function serve(env: Record<string, string>): Promise<{ status: number | null; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'serve'], {
      cwd: ROOT,
      env: { ...childEnv(), LATCHKEY_LOG_LEVEL: 'warn', ...env },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    const stderr: Buffer[] = [];
    child.stderr.on('data', (chunk: Buffer) => stderr.push(chunk));
    // A start that wrongly succeeds is stopped, and then fails the assertions below. The guard is
    // far above a start's time even on a loaded machine (a start that fails takes 1-20 s there),
    // and below the suite's per-test timeout, so the child never outlives its test.
    const guard = setTimeout(() => child.kill('SIGKILL'), 240_000);
    child.on('exit', (status) => {
      clearTimeout(guard);
      resolve({ status, stderr: Buffer.concat(stderr).toString() });
    });
  });
}

function assertOneLine(result: { status: number | null; stderr: string }, pattern: RegExp): void {
  assert.equal(result.status, 1, result.stderr);
  const lines = result.stderr.trimEnd().split('\n');
  assert.equal(lines.length, 1, `one line, got:\n${result.stderr}`);
  assert.match(lines[0] ?? '', pattern);
  assert.doesNotMatch(result.stderr, /\n\s+at /, 'no stack trace');
}

describe('start-up failures', () => {
  const dirs: string[] = [];
  const dataDir = () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'latchkey-startup-'));
    dirs.push(dir);
    return dir;
  };
  after(() => {
    for (const dir of dirs) fs.rmSync(dir, { recursive: true, force: true });
  });

  test('a port in use says so and how to pick another', async () => {
    const holder = net.createServer();
    await new Promise<void>((resolve) => holder.listen(0, '127.0.0.1', resolve));
    const address = holder.address();
    assert.ok(typeof address === 'object' && address);
    try {
      const result = await serve({ LATCHKEY_DATA_DIR: dataDir(), LATCHKEY_PORT: String(address.port) });
      assertOneLine(
        result,
        new RegExp(`^latchkey: 127\\.0\\.0\\.1:${address.port} is already in use: .*LATCHKEY_PORT`),
      );
    } finally {
      holder.close();
    }
  });

  test('an unreachable PostgreSQL names where it looked, without the password', async () => {
    // Port 1 on loopback: nothing listens there, the connection is refused at once.
    const result = await serve({
      LATCHKEY_DATA_DIR: dataDir(),
      LATCHKEY_DATABASE_URL: 'postgres://latchkey:s3cret-pw@127.0.0.1:1/latchkey',
    });
    assertOneLine(
      result,
      /^latchkey: cannot reach PostgreSQL at 127\.0\.0\.1:1 \(ECONNREFUSED\): is it running, and is LATCHKEY_DATABASE_URL right\?$/,
    );
    assert.doesNotMatch(result.stderr, /s3cret-pw/);
  });

  test('a SQLite database that cannot be created names its path', async () => {
    const blocker = path.join(dataDir(), 'not-a-directory');
    fs.writeFileSync(blocker, '');
    const result = await serve({
      LATCHKEY_DATA_DIR: dataDir(),
      LATCHKEY_DATABASE_URL: `sqlite:${blocker}/latchkey.db`,
    });
    assertOneLine(result, /^latchkey: cannot open the SQLite database .*not-a-directory\/latchkey\.db/);
  });

  test('a PostgreSQL database that does not exist says how to create it', {
    skip: PG_URL ? false : 'LATCHKEY_TEST_DATABASE_URL is not set',
  }, async () => {
    const url = new URL(PG_URL ?? '');
    url.pathname = '/latchkey_no_such_database';
    const result = await serve({ LATCHKEY_DATA_DIR: dataDir(), LATCHKEY_DATABASE_URL: url.toString() });
    assertOneLine(
      result,
      /^latchkey: PostgreSQL database "latchkey_no_such_database" does not exist at .*: create it \(createdb latchkey_no_such_database\)/,
    );
  });
});

test('regression: headers and request timeouts of 600000 ms (their maximum) stopped the start with ERR_OUT_OF_RANGE; now it starts', async () => {
  // The real `serve`, as an operator runs it: Node checked the timeouts when Fastify made the server.
  const server = await startServerProcess({
    LATCHKEY_HEADERS_TIMEOUT_MS: '600000',
    LATCHKEY_REQUEST_TIMEOUT_MS: '600000',
    LATCHKEY_KEEP_ALIVE_TIMEOUT_MS: '600000',
  });
  try {
    assert.equal((await fetch(`${server.url}/health`)).status, 200);
    assert.ok(!server.log.join('').includes('ERR_OUT_OF_RANGE'));
  } finally {
    await server.stop();
  }
});

// Several instances means PostgreSQL: the embedded SQLite database belongs to one process.
test('instances started together on one empty database all start, and one admin is made', {
  skip: PG_URL ? false : 'LATCHKEY_TEST_DATABASE_URL is not set',
}, async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'latchkey-together-'));
  const postgres = await freshPostgresSchema();
  const config = loadConfig({
    LATCHKEY_DATA_DIR: dir,
    LATCHKEY_DATABASE_URL: postgres.url,
    LATCHKEY_SECRET_KEYS: TEST_KEYS,
    LATCHKEY_BOOTSTRAP_ADMIN_USERNAME: 'root',
    LATCHKEY_BOOTSTRAP_ADMIN_PASSWORD: 'Rootpass1',
    LATCHKEY_ARGON2_MEMORY_KIB: '1024',
    LATCHKEY_ARGON2_ITERATIONS: '1',
    LATCHKEY_LOG_LEVEL: 'silent',
  });
  const started = await Promise.all(
    [1, 2, 3].map(async () => {
      const deps = await createDeps(config, { schema: postgres.schema });
      await bootstrap(deps);
      return deps;
    }),
  );
  try {
    const [one] = started;
    assert.ok(one);
    const admins = await one.db.selectFrom('users').select('username').execute();
    assert.deepEqual(admins, [{ username: 'root' }]);
    // One hash key for all: a value hashed on one instance is found on another.
    assert.equal(new Set(started.map((deps) => deps.keys.hash('x'))).size, 1);
  } finally {
    for (const deps of started) await deps.store.close();
    await postgres.drop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
