import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { buildRoot, childEnv, collectOutput, freePort, untilHealthy } from './support/process.js';
import { callServer } from './support/remote.js';
import { until } from './support/wait.js';

/**
 * The real thing, as the README has it: `npm start` (the CLI that `npm ci` compiled) on a free
 * port with a temporary data directory; the signals go to the npm process itself, as a
 * terminal's Ctrl-C or a supervisor's stop would.
 */
interface Running {
  child: ChildProcess;
  output: string[];
  url: string;
}

async function npmStart(env: Record<string, string>): Promise<Running> {
  const port = await freePort();
  // npm start runs dist/: the repository's as npm ci built it, or a current build beside it.
  const child = spawn('npm', ['start', '--silent'], {
    cwd: buildRoot(),
    env: childEnv({ HOME: process.env.HOME ?? '/tmp', LATCHKEY_PORT: String(port), ...env }),
    stdio: ['ignore', 'pipe', 'pipe'],
    // Its own process group, as a shell gives a foreground job: Ctrl-C signals the whole group.
    detached: true,
  });
  const output = collectOutput(child);
  const url = `http://127.0.0.1:${port}`;
  await untilHealthy(url, child, output);
  return { child, output, url };
}

function serverPid(running: Running): number {
  const listening = running.output
    .join('')
    .split('\n')
    .find((line) => line.includes('"latchkey listening"'));
  const pid = listening ? (JSON.parse(listening) as { pid: number }).pid : undefined;
  assert.ok(pid, 'the server logged its pid');
  return pid;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function portIsFree(url: string): Promise<boolean> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve) => {
    const probe = net.createServer();
    probe.once('error', () => resolve(false));
    probe.listen(Number(port), hostname, () => probe.close(() => resolve(true)));
  });
}

/**
 * A signal to the npm process (the one the README starts), which npm hands on to the server;
 * or, with `group`, to npm's whole process group, as Ctrl-C in a terminal or systemd's stop
 * does: then the server gets it twice, once directly and once from npm. Either way it stops
 * within 10 s, npm exits with its exit code, the server process is gone and its port free.
 */
async function stop(
  running: Running,
  signal: NodeJS.Signals = 'SIGTERM',
  target: 'npm' | 'group' = 'npm',
): Promise<number | null> {
  const pid = serverPid(running);
  const npmPid = running.child.pid;
  assert.ok(npmPid);
  const exited = new Promise<number | null>((resolve) => running.child.once('exit', (code) => resolve(code)));
  const started = Date.now();
  process.kill(target === 'group' ? -npmPid : npmPid, signal);
  const code = await exited;
  for (let waited = 0; alive(pid) && waited < 10_000; waited += 50)
    await new Promise((resolve) => setTimeout(resolve, 50));
  assert.ok(!alive(pid), `the server process ${pid} outlived npm`);
  assert.ok(Date.now() - started < 10_000, `stopping took ${Date.now() - started} ms`);
  assert.ok(await portIsFree(running.url), 'the port is free again');
  return code;
}

async function call(url: string, method: string, body?: unknown, token?: string) {
  return callServer<Record<string, Record<string, unknown>>>(url, method, '', {
    ...(body === undefined ? {} : { body }),
    ...(token ? { token } : {}),
  });
}

const tokenId = (response: { body: Record<string, Record<string, unknown>> }) =>
  (response.body.access?.token as { id: string } | undefined)?.id ?? '';

describe('the server process', () => {
  before(() => buildRoot());
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
    const hints = log.split('\n').filter((line) => line.includes('latchkey server create-user'));
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
    assert.equal(await stop(second, 'SIGINT', 'group'), 0, 'Ctrl-C ends it cleanly too');

    // The whole log of both runs, at debug level, holds none of the secrets used.
    const log = [...first.output, ...second.output].join('');
    for (const secret of ['Rootpass1', 'Survivor1', apiKey, ownToken, tokenId(admin), tokenId(password)]) {
      assert.ok(!log.includes(secret), 'a secret is in the server log');
    }
  });

  test('a stop lets the request in flight finish, and a client that never finishes its request cannot hold it past 10 s', async () => {
    const running = await npmStart({
      LATCHKEY_DATA_DIR: newDataDir(),
      LATCHKEY_BOOTSTRAP_ADMIN_USERNAME: 'root',
      LATCHKEY_BOOTSTRAP_ADMIN_PASSWORD: 'Rootpass1',
    });
    const { hostname, port } = new URL(running.url);
    const connect = async () => {
      const socket = net.connect(Number(port), hostname);
      await new Promise((resolve) => socket.once('connect', resolve));
      const received: Buffer[] = [];
      socket.on('data', (chunk: Buffer) => received.push(chunk));
      const ended = new Promise<string>((resolve) =>
        socket.once('close', () => resolve(Buffer.concat(received).toString())),
      );
      return { socket, ended };
    };
    // A login whose body is only half sent when the stop begins.
    const body = JSON.stringify({
      auth: { passwordCredentials: { username: 'root', password: 'Rootpass1' } },
    });
    const login = await connect();
    login.socket.write(
      `POST /v2.0/tokens HTTP/1.1\r\nHost: ${hostname}\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body.slice(0, 20)}`,
    );
    // A client that sends part of its headers and then nothing.
    const stalled = await connect();
    stalled.socket.write(`GET /health HTTP/1.1\r\nHost: ${hostname}\r\n`);
    // Both requests have reached the server once a later request on a third connection is answered.
    assert.equal((await fetch(`${running.url}/health`)).status, 200);

    const stopped = stop(running);
    // The stop has begun once the server says so; then the login's body arrives.
    await until(() => running.output.join('').includes('shutting down'), "the server's 'shutting down'");
    login.socket.write(body.slice(20));
    const answer = await login.ended;
    assert.match(answer, /^HTTP\/1\.1 200 /, answer);
    assert.match(answer, /\r\nconnection: close\r\n/i, 'the answer closes its keep-alive connection');
    assert.match(answer, /"access":\{"token":\{"id":"[0-9a-f]{32}"/);
    // The stalled client's request, completed during the stop: refused in the contract's format.
    stalled.socket.write('\r\n');
    const refused = await stalled.ended;
    assert.match(refused, /^HTTP\/1\.1 503 /, refused);
    assert.match(
      refused,
      /\{"serviceUnavailable":\{"code":503,"message":"The server is stopping\. Try again\."\}\}/,
    );
    assert.equal(await stopped, 0);
  });
});
