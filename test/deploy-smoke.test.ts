import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Authenticator } from './support/cli.js';
import { buildRoot } from './support/process.js';
import { assertDocumentedAnswer } from './support/remote.js';
import { requireTool } from './support/tools.js';

/**
 * The deployment of docs/deployment.md, started by deploy/local-cluster.sh: nginx in front of
 * two instances on one fresh PostgreSQL database. Needs LATCHKEY_TEST_DATABASE_URL and nginx;
 * CI (CI=true) installs nginx, so there a missing nginx fails instead of skipping (support/tools.ts).
 */
const ROOT = path.resolve(import.meta.dirname, '..');
const PG_URL = process.env.LATCHKEY_TEST_DATABASE_URL;

function skipReason(): string | false {
  if (!PG_URL) return 'LATCHKEY_TEST_DATABASE_URL is not set';
  return requireTool('nginx');
}

/** An address of this machine's loopback other than nginx's own 127.0.0.1: the "client". */
const CLIENT_ADDRESS = '127.0.0.5';

interface Answer {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Record<string, Record<string, unknown>>;
}

/** One request from CLIENT_ADDRESS, on its own connection. */
function call(
  base: string,
  method: string,
  url: string,
  options: { token?: string; body?: unknown; headers?: Record<string, string> } = {},
): Promise<Answer> {
  const payload = options.body === undefined ? undefined : JSON.stringify(options.body);
  return new Promise((resolve, reject) => {
    const request = http.request(
      new URL(url, base),
      {
        method,
        localAddress: CLIENT_ADDRESS,
        agent: false,
        headers: {
          accept: 'application/json',
          ...(payload === undefined ? {} : { 'content-type': 'application/json' }),
          ...(options.token ? { 'x-auth-token': options.token } : {}),
          ...options.headers,
        },
      },
      (response) => {
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.on('end', () => {
          const text = Buffer.concat(chunks).toString();
          let body: Answer['body'] = {};
          try {
            body = text ? (JSON.parse(text) as Answer['body']) : {};
          } catch {
            body = { text: { value: text } };
          }
          const status = response.statusCode ?? 0;
          try {
            // Through nginx too, every answer of latchkey's is held to the contract. An HTML page
            // on an API path is nginx's own (it refuses /metrics from outside), not latchkey's.
            const fromProxy = String(response.headers['content-type'] ?? '').startsWith('text/html');
            if (!fromProxy) assertDocumentedAnswer(method, url, { status, headers: response.headers, text });
          } catch (error) {
            reject(error);
            return;
          }
          resolve({ status, headers: response.headers, body });
        });
      },
    );
    request.on('error', reject);
    request.end(payload);
  });
}

const passwordAuth = (username: string, password: string) => ({
  auth: { passwordCredentials: { username, password } },
});
const accessTokenOf = (answer: Answer): { id: string; 'RAX-AUTH:authenticatedBy': string[] } => {
  assert.equal(answer.status, 200, JSON.stringify(answer.body));
  const token = answer.body.access?.token;
  assert.ok(token, JSON.stringify(answer.body));
  return token as { id: string; 'RAX-AUTH:authenticatedBy': string[] };
};
const tokenOf = (answer: Answer): string => accessTokenOf(answer).id;

describe('deployment behind nginx on PostgreSQL', { skip: skipReason() }, () => {
  let script: string;
  let runDir: string;
  let cluster: Record<string, string>;
  let proxy: string;
  let first: string;
  let second: string;
  let adminToken: string;

  before(() => {
    // The script runs the dist/ beside it: the repository's as npm ci built it, or a current build.
    script = path.join(buildRoot(), 'deploy/local-cluster.sh');
    runDir = fs.mkdtempSync(path.join(os.tmpdir(), 'latchkey-cluster-'));
    const started = spawnSync(script, ['start', runDir], {
      cwd: ROOT,
      encoding: 'utf8',
      env: {
        ...process.env,
        CLUSTER_POSTGRES_URL: PG_URL,
        // With Redis at hand (CI), the instances share it as a production cluster would.
        ...(process.env.LATCHKEY_TEST_REDIS_URL
          ? { CLUSTER_REDIS_URL: process.env.LATCHKEY_TEST_REDIS_URL }
          : {}),
        // Cheaper argon2id for the test; the script defaults to OWASP's parameters.
        LATCHKEY_ARGON2_MEMORY_KIB: '4096',
        LATCHKEY_ARGON2_ITERATIONS: '1',
      },
      timeout: 120_000,
    });
    assert.equal(started.status, 0, `${started.stdout}\n${started.stderr}`);
    cluster = Object.fromEntries(
      fs
        .readFileSync(path.join(runDir, 'cluster.env'), 'utf8')
        .trim()
        .split('\n')
        .map((line) => [line.slice(0, line.indexOf('=')), line.slice(line.indexOf('=') + 1)]),
    );
    proxy = cluster.PROXY_URL ?? '';
    first = cluster.INSTANCE_1_URL ?? '';
    second = cluster.INSTANCE_2_URL ?? '';
  });

  after(() => {
    if (!runDir) return;
    const stopped = spawnSync(script, ['stop', runDir], { cwd: ROOT, encoding: 'utf8', timeout: 30_000 });
    assert.equal(stopped.status, 0, stopped.stderr);
    fs.rmSync(runDir, { recursive: true, force: true });
  });

  test('an administrator logs in through the proxy', async () => {
    adminToken = tokenOf(
      await call(proxy, 'POST', '/v2.0/tokens', {
        body: passwordAuth('admin', cluster.ADMIN_PASSWORD ?? ''),
      }),
    );
    const health = await call(proxy, 'GET', '/health/ready');
    assert.deepEqual(health.body, { status: 'ready' });
    assert.equal((await call(proxy, 'GET', '/metrics')).status, 404, 'the proxy does not publish /metrics');
  });

  test('regression: /metrics/ was served and a client X-Forwarded-Host believed through the proxy', async () => {
    for (const path of ['/metrics', '/metrics/', '/metrics?x=1', '/%6detrics/'])
      assert.equal((await call(proxy, 'GET', path)).status, 404, `${path} is not published`);
    for (const headers of [
      { 'x-forwarded-host': 'evil.example' } as Record<string, string>,
      { forwarded: 'host=evil.example' },
      { host: 'evil.example' },
    ]) {
      const root = await call(proxy, 'GET', '/', { headers });
      assert.equal(root.status, 300);
      assert.equal(root.headers.location, `${proxy}/v3/`, 'the / redirect names LATCHKEY_PUBLIC_URL');
    }
  });

  test('a two-step login: step 1 on one instance, step 2 on the other', async () => {
    const username = `smoke${Date.now()}`;
    const password = 'Smokepass1';
    const created = await call(proxy, 'POST', '/v2.0/users', {
      token: adminToken,
      body: { user: { username, email: `${username}@example.com`, 'OS-KSADM:password': password } },
    });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const userId = (created.body.user as { id: string }).id;
    const token = tokenOf(
      await call(proxy, 'POST', '/v2.0/tokens', { body: passwordAuth(username, password) }),
    );
    const mfa = `/v2.0/users/${userId}/RAX-AUTH/multi-factor`;
    const device = await call(first, 'POST', `${mfa}/otp-devices`, {
      token,
      body: { 'RAX-AUTH:otpDevice': { name: 'phone' } },
    });
    assert.equal(device.status, 201);
    const { id: deviceId, keyUri } = device.body['RAX-AUTH:otpDevice'] as { id: string; keyUri: string };
    const app = new Authenticator(new URL(keyUri).searchParams.get('secret') ?? '');
    const verified = await call(second, 'POST', `${mfa}/otp-devices/${deviceId}/verify`, {
      token,
      body: { 'RAX-AUTH:verificationCode': { code: await app.code() } },
    });
    assert.equal(verified.status, 204, 'a device added on one instance is verified on the other');
    assert.equal(
      (await call(first, 'PUT', mfa, { token, body: { 'RAX-AUTH:multiFactor': { enabled: true } } })).status,
      204,
    );

    const challenge = await call(first, 'POST', '/v2.0/tokens', { body: passwordAuth(username, password) });
    assert.equal(challenge.status, 401);
    const sessionId = /sessionId='([^']+)'/.exec(String(challenge.headers['www-authenticate']))?.[1];
    assert.ok(sessionId, String(challenge.headers['www-authenticate']));
    // The verification spent its time step; the authenticator gives the next one.
    const passcode = await app.code();
    const access = await call(second, 'POST', '/v2.0/tokens', {
      headers: { 'x-sessionid': sessionId },
      body: { auth: { 'RAX-AUTH:passcodeCredentials': { passcode } } },
    });
    const mfaToken = tokenOf(access);
    assert.deepEqual(accessTokenOf(access)['RAX-AUTH:authenticatedBy'], ['OTPPASSCODE', 'PASSWORD']);

    // Revoked through one instance, refused through the other at once.
    assert.equal((await call(second, 'GET', `/v2.0/tokens/${mfaToken}`, { token: adminToken })).status, 200);
    assert.equal((await call(first, 'DELETE', '/v2.0/tokens', { token: mfaToken })).status, 204);
    assert.equal((await call(second, 'GET', `/v2.0/tokens/${mfaToken}`, { token: adminToken })).status, 404);
    assert.equal((await call(second, 'GET', `/v2.0/users/${userId}`, { token: mfaToken })).status, 401);
  });

  test('the address latchkey records is the client, from X-Forwarded-For set by the proxy only', async () => {
    const createUser = async (username: string) => {
      const created = await call(proxy, 'POST', '/v2.0/users', {
        token: adminToken,
        body: { user: { username, email: `${username}@example.com`, 'OS-KSADM:password': 'Smokepass1' } },
      });
      assert.equal(created.status, 201, JSON.stringify(created.body));
      return (created.body.user as { id: string }).id;
    };
    const failedLoginSource = async (userId: string) => {
      const events = await call(proxy, 'GET', `/v2.0/RAX-AUTH/events?userId=${userId}&type=login.failed`, {
        token: adminToken,
      });
      assert.equal(events.status, 200, JSON.stringify(events.body));
      const list = (events.body as unknown as { events: { source: string | null }[] }).events;
      assert.equal(list.length, 1, JSON.stringify(list));
      return list[0]?.source;
    };
    const viaProxy = `viaproxy${Date.now()}`;
    const direct = `direct${Date.now()}`;
    const viaProxyId = await createUser(viaProxy);
    const directId = await createUser(direct);
    const spoofed = { 'x-forwarded-for': '203.0.113.7' };
    // Through nginx, which replaces the client's header with the address it saw.
    const refused = await call(proxy, 'POST', '/v2.0/tokens', {
      body: passwordAuth(viaProxy, 'Wrongpass1'),
      headers: spoofed,
    });
    assert.equal(refused.status, 401);
    // Straight to an instance: this client is not a trusted proxy, so its header is ignored.
    await call(first, 'POST', '/v2.0/tokens', { body: passwordAuth(direct, 'Wrongpass1'), headers: spoofed });
    assert.equal(await failedLoginSource(viaProxyId), CLIENT_ADDRESS);
    assert.equal(await failedLoginSource(directId), CLIENT_ADDRESS);
  });

  test('with one instance killed, logins through the proxy still succeed', async () => {
    const victim = Number(cluster.INSTANCE_1_PID);
    assert.ok(victim > 0);
    process.kill(victim, 'SIGKILL');
    for (let attempt = 0; attempt < 50 && isAlive(victim); attempt++)
      await new Promise((resolve) => setTimeout(resolve, 100));
    assert.ok(!isAlive(victim));
    const statuses: number[] = [];
    for (let login = 0; login < 6; login++) {
      statuses.push(
        (
          await call(proxy, 'POST', '/v2.0/tokens', {
            body: passwordAuth('admin', cluster.ADMIN_PASSWORD ?? ''),
          })
        ).status,
      );
    }
    assert.deepEqual(statuses, [200, 200, 200, 200, 200, 200]);
    await assert.rejects(call(first, 'GET', '/health'), 'the killed instance is gone');
  });
});

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
