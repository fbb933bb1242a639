import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { loadConfig } from '../src/config/config.js';
import { startServer } from '../src/server/main.js';
import { DataDirectoryInUse } from '../src/store/data-dir-lock.js';
import { PASSWORD, TEST_KEYS } from './support/harness.js';
import { childEnv, collectOutput, freePort, untilHealthy } from './support/process.js';

const ROOT = path.resolve(import.meta.dirname, '..');
const directories: string[] = [];

function temporaryDirectory(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'latchkey-embedded-'));
  directories.push(dir);
  return dir;
}

interface Child {
  process: ChildProcess;
  output: string[];
  exited: Promise<number | null>;
}

async function serve(dataDir: string, waitForHealth: boolean): Promise<Child & { url: string }> {
  const port = await freePort();
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'serve'], {
    cwd: ROOT,
    env: childEnv({
      LATCHKEY_PORT: String(port),
      LATCHKEY_DATA_DIR: dataDir,
      LATCHKEY_SECRET_KEYS: TEST_KEYS,
      LATCHKEY_LOG_LEVEL: 'warn',
    }),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const output = collectOutput(child);
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const url = `http://127.0.0.1:${port}`;
  if (waitForHealth) await untilHealthy(url, child, output);
  return { process: child, output, exited, url };
}

const modeOf = (file: string) => fs.statSync(file).mode & 0o777;

describe('one process per embedded SQLite database', () => {
  after(() => {
    for (const dir of directories) fs.rmSync(dir, { recursive: true, force: true });
  });

  test('regression: a second `latchkey serve` on the same SQLite files started without complaint', async () => {
    const dataDir = temporaryDirectory();
    const first = await serve(dataDir, true);
    try {
      const second = await serve(dataDir, false);
      const code = await second.exited;
      const said = second.output.join('');
      assert.equal(code, 2, said);
      assert.match(said, new RegExp(`pid ${first.process.pid}\\b`));
      assert.match(said, /use PostgreSQL/);
      assert.equal((await fetch(`${first.url}/health`)).status, 200, 'the first one is unaffected');
    } finally {
      first.process.kill('SIGKILL');
      await first.exited;
    }
    // The lock went with the killed process: its pid file left behind does not block a restart.
    const third = await serve(dataDir, true);
    assert.equal((await fetch(`${third.url}/health`)).status, 200);
    third.process.kill('SIGTERM');
    assert.equal(await third.exited, 0);
  });

  test('within one process too, and the lock is let go on close', async () => {
    const dataDir = temporaryDirectory();
    const config = loadConfig({
      LATCHKEY_DATA_DIR: dataDir,
      LATCHKEY_PORT: '0',
      LATCHKEY_SECRET_KEYS: TEST_KEYS,
      LATCHKEY_LOG_LEVEL: 'silent',
    });
    const first = await startServer(config);
    await assert.rejects(
      startServer(config),
      (error: unknown) => error instanceof DataDirectoryInUse && error.pid === process.pid,
    );
    await first.close();
    const again = await startServer(config);
    await again.close();
  });
});

describe('the embedded store’s files are private', () => {
  after(() => {
    for (const dir of directories) fs.rmSync(dir, { recursive: true, force: true });
  });

  test('regression: database files were 0644; now 0600 in a 0700 directory, key ring and WAL included', async () => {
    const dataDir = path.join(temporaryDirectory(), 'nested', 'data');
    const config = loadConfig({
      LATCHKEY_DATA_DIR: dataDir,
      LATCHKEY_PORT: '0',
      LATCHKEY_LOG_LEVEL: 'silent',
      LATCHKEY_ARGON2_MEMORY_KIB: '1024',
      LATCHKEY_ARGON2_ITERATIONS: '1',
      LATCHKEY_BOOTSTRAP_ADMIN_USERNAME: 'root',
      LATCHKEY_BOOTSTRAP_ADMIN_PASSWORD: PASSWORD,
    });
    const server = await startServer(config);
    try {
      const login = await fetch(`${server.url}/v2.0/tokens`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ auth: { passwordCredentials: { username: 'root', password: PASSWORD } } }),
      });
      assert.equal(login.status, 200);
      assert.equal(modeOf(dataDir), 0o700);
      for (const name of [
        'latchkey.db',
        'latchkey.db-wal',
        'latchkey.db-shm',
        'secret-keys',
        'latchkey.lock',
        'latchkey.pid',
      ]) {
        assert.equal(modeOf(path.join(dataDir, name)).toString(8), '600', name);
      }
    } finally {
      await server.close();
    }
    // A database an older version left readable by others is made private on the next start.
    fs.chmodSync(path.join(dataDir, 'latchkey.db'), 0o644);
    const again = await startServer(config);
    await again.close();
    assert.equal(modeOf(path.join(dataDir, 'latchkey.db')).toString(8), '600');
  });
});
