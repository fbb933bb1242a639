import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Messages } from '../src/core/errors.js';
import { freshPostgresSchema, PASSWORD, TEST_KEYS } from './support/harness.js';
import { secretOf, totpAt } from './support/mfa.js';
import { serveFromSources } from './support/process.js';
import { callServer } from './support/remote.js';

/**
 * Two real server processes on one PostgreSQL schema: what one instance changes, the other sees
 * on its very next request. Runs when LATCHKEY_TEST_DATABASE_URL is set.
 */
const enabled = Boolean(process.env.LATCHKEY_TEST_DATABASE_URL);

interface Instance {
  url: string;
  process: ChildProcess;
  output: string[];
}

async function startInstance(databaseUrl: string, dataDir: string): Promise<Instance> {
  const { child, output, url } = await serveFromSources({
    LATCHKEY_DATA_DIR: dataDir,
    LATCHKEY_DATABASE_URL: databaseUrl,
    LATCHKEY_SECRET_KEYS: TEST_KEYS,
    LATCHKEY_ARGON2_MEMORY_KIB: '1024',
    LATCHKEY_ARGON2_ITERATIONS: '1',
    LATCHKEY_BOOTSTRAP_ADMIN_USERNAME: 'root',
    LATCHKEY_BOOTSTRAP_ADMIN_PASSWORD: PASSWORD,
    LATCHKEY_LOG_LEVEL: 'warn',
    // The tests name their client with X-Forwarded-For, so each counts against its own source.
    LATCHKEY_TRUSTED_PROXIES: '127.0.0.1',
  });
  return { url, process: child, output };
}

async function call(
  instance: Instance,
  method: string,
  url: string,
  options: { token?: string; body?: unknown; headers?: Record<string, string> } = {},
) {
  return callServer<Record<string, Record<string, unknown>>>(instance.url, method, url, options);
}

async function login(instance: Instance, username: string) {
  return call(instance, 'POST', '/v2.0/tokens', {
    body: { auth: { passwordCredentials: { username, password: PASSWORD } } },
  });
}

function tokenOf(response: { body: Record<string, Record<string, unknown>> }): string {
  const token = response.body.access?.token as { id: string } | undefined;
  if (!token) throw new Error('no token in the response');
  return token.id;
}

describe('several instances on one PostgreSQL', {
  skip: !enabled && 'LATCHKEY_TEST_DATABASE_URL is not set',
}, () => {
  let first: Instance;
  let second: Instance;
  let dropSchema: () => Promise<void>;
  let dataDir: string;
  let adminToken: string;

  before(async () => {
    const fresh = await freshPostgresSchema();
    dropSchema = fresh.drop;
    const url = new URL(fresh.url);
    url.searchParams.set('options', `-c search_path=${fresh.schema}`);
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'latchkey-multi-'));
    // One at a time: both run migrations on start, and the second finds them applied.
    first = await startInstance(url.toString(), dataDir);
    second = await startInstance(url.toString(), dataDir);
    adminToken = tokenOf(await login(first, 'root'));
  });

  after(async () => {
    for (const instance of [first, second]) instance?.process.kill('SIGTERM');
    await Promise.all(
      [first, second].map(
        (instance) =>
          new Promise((resolve) =>
            instance?.process.exitCode !== null ? resolve(null) : instance.process.once('exit', resolve),
          ),
      ),
    );
    await dropSchema?.();
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  async function newAccount(prefix: string) {
    const username = `${prefix}${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}`;
    const created = await call(first, 'POST', '/v2.0/users', {
      token: adminToken,
      body: { user: { username, email: `${username}@example.com`, 'OS-KSADM:password': PASSWORD } },
    });
    assert.equal(created.status, 201, created.text);
    const user = created.body.user as { id: string; 'RAX-AUTH:domainId': string };
    return {
      id: user.id,
      username,
      domainId: user['RAX-AUTH:domainId'],
      token: tokenOf(await login(first, username)),
    };
  }

  test('a token revoked on one instance fails on the other on the very next request', async () => {
    const owner = await newAccount('owner');
    const member = await call(first, 'POST', '/v2.0/users', {
      token: owner.token,
      body: { user: { username: `${owner.username}m`, 'OS-KSADM:password': PASSWORD } },
    });
    const memberToken = tokenOf(await login(first, `${owner.username}m`));
    const memberId = (member.body.user as { id: string }).id;
    assert.equal((await call(second, 'GET', `/v2.0/users/${memberId}`, { token: memberToken })).status, 200);
    const put = await call(first, 'PUT', `/v2.0/RAX-AUTH/domains/${owner.domainId}/multi-factor`, {
      token: adminToken,
      body: { 'RAX-AUTH:multiFactorDomain': { domainMultiFactorEnforcementLevel: 'REQUIRED' } },
    });
    assert.equal(put.status, 204, put.text);
    assert.equal((await call(second, 'GET', `/v2.0/users/${memberId}`, { token: memberToken })).status, 401);
    const again = await login(second, `${owner.username}m`);
    assert.equal(again.status, 403);
    assert.equal(again.body.forbidden?.message, Messages.mustSetupMfa);
  });

  test('60 concurrent wrong passcodes over two instances lock the user, and the right code is then refused', async () => {
    const owner = await newAccount('racer');
    const base = `/v2.0/users/${owner.id}/RAX-AUTH/multi-factor`;
    const device = await call(first, 'POST', `${base}/otp-devices`, {
      token: owner.token,
      body: { 'RAX-AUTH:otpDevice': { name: 'race' } },
    });
    const { id, keyUri } = device.body['RAX-AUTH:otpDevice'] as { id: string; keyUri: string };
    const verify = await call(second, 'POST', `${base}/otp-devices/${id}/verify`, {
      token: owner.token,
      body: { 'RAX-AUTH:verificationCode': { code: totpAt(secretOf(keyUri), Date.now()) } },
    });
    assert.equal(verify.status, 204, verify.text);
    assert.equal(
      (
        await call(first, 'PUT', base, {
          token: owner.token,
          body: { 'RAX-AUTH:multiFactor': { enabled: true } },
        })
      ).status,
      204,
    );
    const ownerMfaToken = tokenOf(
      await call(first, 'POST', '/v2.0/tokens', {
        body: {
          auth: {
            'RAX-KSKEY:apiKeyCredentials': { username: owner.username, apiKey: await apiKeyOf(owner) },
          },
        },
      }),
    );
    // The right passcode for the end: a bypass code (a TOTP code's step may already be spent).
    const bypass = await call(second, 'POST', `${base}/bypass-codes`, {
      token: ownerMfaToken,
      body: { 'RAX-AUTH:bypassCodes': { numberOfCodes: 1 } },
    });
    assert.equal(bypass.status, 200, bypass.text);
    const [code] = (bypass.body['RAX-AUTH:bypassCodes'] as { codes: string[] }).codes;

    const challenge = await login(first, owner.username);
    const sessionId = /sessionId='([^']+)'/.exec(challenge.headers.get('www-authenticate') ?? '')?.[1] ?? '';
    const guesses = Array.from({ length: 60 }, (_, index) =>
      call(index % 2 === 0 ? first : second, 'POST', '/v2.0/tokens', {
        headers: { 'X-SessionId': sessionId },
        body: { auth: { 'RAX-AUTH:passcodeCredentials': { passcode: '99999999' } } },
      }),
    );
    const results = await Promise.all(guesses);
    assert.equal(results.filter((result) => result.status === 401).length, 6);
    assert.equal(results.filter((result) => result.status === 403).length, 54);
    const right = await call(second, 'POST', '/v2.0/tokens', {
      headers: { 'X-SessionId': sessionId },
      body: { auth: { 'RAX-AUTH:passcodeCredentials': { passcode: code } } },
    });
    assert.equal(right.status, 403);
    assert.equal(right.body.forbidden?.message, Messages.locked);
  });

  const passwordAttempt = (instance: Instance, username: string, password: string, client: string) =>
    call(instance, 'POST', '/v2.0/tokens', {
      headers: { 'X-Forwarded-For': client },
      body: { auth: { passwordCredentials: { username, password } } },
    });

  test('30 concurrent wrong passwords over two instances lock the password, and the right one is then refused', async () => {
    const owner = await newAccount('guessed');
    const client = '203.0.113.51';
    const answers = await Promise.all(
      Array.from({ length: 30 }, (_, index) =>
        passwordAttempt(index % 2 === 0 ? first : second, owner.username, 'Wrongpass1', client),
      ),
    );
    assert.ok(answers.every((answer) => answer.status === 401));
    const right = await passwordAttempt(second, owner.username, PASSWORD, client);
    assert.equal(right.status, 401);
    assert.equal(right.body.unauthorized?.message, Messages.badPassword);
    const keyLogin = await call(first, 'POST', '/v2.0/tokens', {
      body: {
        auth: { 'RAX-KSKEY:apiKeyCredentials': { username: owner.username, apiKey: await apiKeyOf(owner) } },
      },
    });
    assert.equal(keyLogin.status, 200, 'the API key keeps working');
  });

  test('150 concurrent failures from one source over two instances: exactly 100 are judged, 50 are 429', async () => {
    const client = '203.0.113.50';
    const answers = await Promise.all(
      Array.from({ length: 150 }, (_, index) =>
        passwordAttempt(index % 2 === 0 ? first : second, `nobody${index}`, 'Wrongpass1', client),
      ),
    );
    assert.equal(answers.filter((answer) => answer.status === 401).length, 100);
    const refused = answers.filter((answer) => answer.status === 429);
    assert.equal(refused.length, 50);
    assert.ok(refused.every((answer) => Number(answer.headers.get('retry-after')) > 0));
    assert.equal((await passwordAttempt(first, 'nobody', 'Wrongpass1', '203.0.113.52')).status, 401);
  });

  async function apiKeyOf(user: { id: string; token: string }): Promise<string> {
    const response = await call(
      first,
      'GET',
      `/v2.0/users/${user.id}/OS-KSADM/credentials/RAX-KSKEY:apiKeyCredentials`,
      {
        token: adminToken,
      },
    );
    return (response.body['RAX-KSKEY:apiKeyCredentials'] as { apiKey: string }).apiKey;
  }
});
