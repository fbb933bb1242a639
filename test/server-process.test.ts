import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, describe, test } from 'node:test';

/**
 * The real thing: `npm start` (build, then the compiled CLI) on a free port with a temporary
 * data directory, stopped with SIGTERM and started again on the same data.
 */
const ROOT = path.resolve(import.meta.dirname, '..');

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() =>
        typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port')),
      );
    });
  });
}

interface Running {
  child: ChildProcess;
  output: string[];
  url: string;
}

async function npmStart(env: Record<string, string>): Promise<Running> {
  const port = await freePort();
  const child = spawn('npm', ['start', '--silent'], {
    cwd: ROOT,
    env: {
      PATH: process.env.PATH ?? '',
      HOME: process.env.HOME ?? '/tmp',
      LATCHKEY_PORT: String(port),
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const output: string[] = [];
  child.stdout?.on('data', (chunk: Buffer) => output.push(chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => output.push(chunk.toString()));
  const url = `http://127.0.0.1:${port}`;
  for (let attempt = 0; attempt < 600; attempt++) {
    if (child.exitCode !== null) throw new Error(`server exited early:\n${output.join('')}`);
    try {
      if ((await fetch(`${url}/health`)).ok) return { child, output, url };
    } catch {
      // not listening yet (the build runs first)
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`server did not start:\n${output.join('')}`);
}

/**
 * SIGTERM to the server itself (its pid is in its log lines, as any operator's supervisor would
 * know it); npm then exits with the server's own exit code.
 */
async function stop(running: Running): Promise<number | null> {
  const listening = running.output
    .join('')
    .split('\n')
    .find((line) => line.includes('"latchkey listening"'));
  const pid = listening ? (JSON.parse(listening) as { pid: number }).pid : undefined;
  assert.ok(pid, 'the server logged its pid');
  const exited = new Promise<number | null>((resolve) => running.child.once('exit', (code) => resolve(code)));
  process.kill(pid, 'SIGTERM');
  return exited;
}

async function call(url: string, method: string, body?: unknown, token?: string) {
  const response = await fetch(url, {
    method,
    headers: {
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      ...(token ? { 'x-auth-token': token } : {}),
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await response.text();
  return {
    status: response.status,
    body: (text ? JSON.parse(text) : {}) as Record<string, Record<string, unknown>>,
  };
}

const tokenId = (response: { body: Record<string, Record<string, unknown>> }) =>
  (response.body.access?.token as { id: string } | undefined)?.id ?? '';

describe('the server process', () => {
  const dataDirs: string[] = [];
  const newDataDir = () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'latchkey-process-'));
    dataDirs.push(dir);
    return dir;
  };
  after(() => {
    for (const dir of dataDirs) fs.rmSync(dir, { recursive: true, force: true });
  });

  test('a first start with no users says how to create the first administrator', async () => {
    const running = await npmStart({ LATCHKEY_DATA_DIR: newDataDir() });
    assert.equal(await stop(running), 0, 'SIGTERM ends the server cleanly');
    const log = running.output.join('');
    const hints = log.split('\n').filter((line) => line.includes('latchkey users create'));
    assert.equal(hints.length, 1, log);
    assert.match(log, /LATCHKEY_SECRET_KEYS is not set/);
  });

  test('users created over HTTP survive a restart, with their password and API key', async () => {
    const dataDir = newDataDir();
    const env = {
      LATCHKEY_DATA_DIR: dataDir,
      LATCHKEY_BOOTSTRAP_ADMIN_USERNAME: 'root',
      LATCHKEY_BOOTSTRAP_ADMIN_PASSWORD: 'Rootpass1',
      LATCHKEY_LOG_LEVEL: 'debug',
    };
    const first = await npmStart(env);
    const admin = await call(`${first.url}/v2.0/tokens`, 'POST', {
      auth: { passwordCredentials: { username: 'root', password: 'Rootpass1' } },
    });
    assert.equal(admin.status, 200);
    const created = await call(
      `${first.url}/v2.0/users`,
      'POST',
      { user: { username: 'survivor', email: 'survivor@example.com', 'OS-KSADM:password': 'Survivor1' } },
      tokenId(admin),
    );
    assert.equal(created.status, 201);
    const userId = (created.body.user as { id: string }).id;
    const ownToken = tokenId(
      await call(`${first.url}/v2.0/tokens`, 'POST', {
        auth: { passwordCredentials: { username: 'survivor', password: 'Survivor1' } },
      }),
    );
    const key = await call(
      `${first.url}/v2.0/users/${userId}/OS-KSADM/credentials/RAX-KSKEY:apiKeyCredentials`,
      'GET',
      undefined,
      ownToken,
    );
    const apiKey = (key.body['RAX-KSKEY:apiKeyCredentials'] as { apiKey: string }).apiKey;
    assert.equal(await stop(first), 0, 'SIGTERM ends the server cleanly');

    const second = await npmStart(env);
    const password = await call(`${second.url}/v2.0/tokens`, 'POST', {
      auth: { passwordCredentials: { username: 'survivor', password: 'Survivor1' } },
    });
    assert.equal(password.status, 200);
    const byKey = await call(`${second.url}/v2.0/tokens`, 'POST', {
      auth: { 'RAX-KSKEY:apiKeyCredentials': { username: 'survivor', apiKey } },
    });
    assert.equal(byKey.status, 200, 'the API key, encrypted with the generated key ring, still decrypts');
    assert.equal((await call(`${second.url}/v2.0/users/${userId}`, 'GET', undefined, ownToken)).status, 200);
    assert.equal(await stop(second), 0);

    // The whole log of both runs, at debug level, holds none of the secrets used.
    const log = [...first.output, ...second.output].join('');
    for (const secret of ['Rootpass1', 'Survivor1', apiKey, ownToken, tokenId(admin), tokenId(password)]) {
      assert.ok(!log.includes(secret), 'a secret is in the server log');
    }
  });
});
