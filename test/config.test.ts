import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, test } from 'node:test';
import { ConfigError, configDocs, loadConfig, settingSources } from '../src/config/config.js';
import { childEnv } from './support/process.js';

const ROOT = path.resolve(import.meta.dirname, '..');

describe('configuration', () => {
  test('the embedded default needs no variable at all', () => {
    const config = loadConfig({});
    assert.equal(config.port, 8080);
    assert.match(config.databaseUrl, /^sqlite:.*latchkey\.db$/);
    assert.equal(config.sms.provider, 'outbox');
  });

  const bad: [string, string][] = [
    ['LATCHKEY_PORT', 'eighty'],
    ['LATCHKEY_PORT', '70000'],
    ['LATCHKEY_TOKEN_TTL_SECONDS', '5'],
    ['LATCHKEY_DATABASE_URL', 'mysql://x'],
    ['LATCHKEY_SMS_PROVIDER', 'pigeon'],
    ['LATCHKEY_SMS_ALLOWED_COUNTRIES', 'US,Canada'],
    ['LATCHKEY_SMS_WEBHOOK_URL', 'ftp://example.com'],
    ['LATCHKEY_TRUSTED_PROXIES', '10.0.0.0/33'],
    ['LATCHKEY_TRUSTED_PROXIES', 'proxy.example.com'],
    ['LATCHKEY_TRUST_PROXY', 'true'],
    ['LATCHKEY_LOG_LEVEL', 'loud'],
    ['LATCHKEY_TYPO_SETTING', '1'],
  ];
  for (const [name, value] of bad) {
    test(`${name}=${value} stops the start with a message naming it`, () => {
      assert.throws(
        () => loadConfig({ [name]: value }),
        (error: unknown) =>
          error instanceof ConfigError && error.variable === name && error.message.startsWith(name),
      );
    });
  }

  test('the replaced LATCHKEY_TRUST_PROXY names the setting that replaces it', () => {
    assert.throws(() => loadConfig({ LATCHKEY_TRUST_PROXY: 'true' }), /LATCHKEY_TRUSTED_PROXIES/);
    const config = loadConfig({ LATCHKEY_TRUSTED_PROXIES: '10.0.0.1, 192.168.0.0/16,::1' });
    assert.deepEqual(config.trustedProxies, ['10.0.0.1', '192.168.0.0/16', '::1']);
  });

  test('a provider without its settings, half a bootstrap pair, and production without keys are refused', () => {
    assert.throws(() => loadConfig({ LATCHKEY_SMS_PROVIDER: 'twilio' }), /LATCHKEY_TWILIO_ACCOUNT_SID/);
    assert.throws(() => loadConfig({ LATCHKEY_SMS_PROVIDER: 'webhook' }), /LATCHKEY_SMS_WEBHOOK_URL/);
    assert.throws(
      () => loadConfig({ LATCHKEY_BOOTSTRAP_ADMIN_USERNAME: 'root' }),
      /LATCHKEY_BOOTSTRAP_ADMIN_PASSWORD/,
    );
    assert.throws(() => loadConfig({ NODE_ENV: 'production' }), /LATCHKEY_SECRET_KEYS/);
  });

  test('a headers timeout longer than the request timeout is taken as the request timeout, as Node requires', () => {
    const longer = loadConfig({
      LATCHKEY_HEADERS_TIMEOUT_MS: '600000',
      LATCHKEY_REQUEST_TIMEOUT_MS: '30000',
    });
    assert.equal(longer.http.headersTimeoutMs, 30000);
    const both = loadConfig({ LATCHKEY_HEADERS_TIMEOUT_MS: '600000', LATCHKEY_REQUEST_TIMEOUT_MS: '600000' });
    assert.equal(both.http.headersTimeoutMs, 600000);
    assert.equal(both.http.requestTimeoutMs, 600000);
  });

  test('latchkey config lists the settings the server reads, with the value and where it came from', () => {
    const listed = settingSources({ LATCHKEY_PORT: '18600', LATCHKEY_SMS_ALLOWED_COUNTRIES: 'us' });
    assert.deepEqual(
      listed.map((setting) => setting.name),
      configDocs.map((setting) => setting.name),
    );
    assert.equal(new Set(listed.map((setting) => setting.name)).size, listed.length, 'each variable once');
    const byName = new Map(listed.map((setting) => [setting.name, setting]));
    assert.deepEqual(
      { ...byName.get('LATCHKEY_PORT'), doc: undefined },
      { name: 'LATCHKEY_PORT', value: '18600', source: 'environment', doc: undefined },
    );
    assert.equal(byName.get('LATCHKEY_HEADERS_TIMEOUT_MS')?.value, 10000);
    assert.equal(byName.get('LATCHKEY_HEADERS_TIMEOUT_MS')?.source, 'default');
    assert.equal(byName.get('LATCHKEY_PUBLIC_URL')?.value, null);
    const config = loadConfig({ LATCHKEY_PORT: '18600', LATCHKEY_SMS_ALLOWED_COUNTRIES: 'us' });
    assert.equal(config.port, 18600);
    assert.deepEqual(config.sms.allowedCountries, ['US']);
  });

  test('the CLI exits non-zero and names the bad variable', () => {
    const result = spawnSync(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'migrate'], {
      cwd: ROOT,
      env: { ...childEnv(), LATCHKEY_PORT: 'eighty' },
      encoding: 'utf8',
    });
    assert.notEqual(result.status, 0);
    assert.match(result.stderr, /LATCHKEY_PORT/);
  });

  test('server create-user makes a service admin in the configured store, once', () => {
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'latchkey-cli-'));
    const create = () =>
      spawnSync(
        process.execPath,
        [
          '--import',
          'tsx',
          'src/cli/main.ts',
          'server',
          'create-user',
          '--username',
          'ops',
          '--password-stdin',
          '--role',
          'identity:service-admin',
        ],
        {
          cwd: ROOT,
          env: { ...childEnv(), LATCHKEY_DATA_DIR: dataDir, LATCHKEY_LOG_LEVEL: 'error' },
          encoding: 'utf8',
          input: 'Opspass12\n',
        },
      );
    const first = create();
    assert.equal(first.status, 0, first.stderr);
    assert.match(first.stdout, /created identity:service-admin 'ops'/);
    const again = create();
    assert.notEqual(again.status, 0, 'the user is in the database: a second create is a duplicate');
    assert.match(again.stderr, /already exists/);
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  test('every command answers --help', () => {
    for (const args of [
      ['--help'],
      ['serve', '--help'],
      ['migrate', '--help'],
      ['server', 'create-user', '--help'],
    ]) {
      const result = spawnSync(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', ...args], {
        cwd: ROOT,
        env: childEnv(),
        encoding: 'utf8',
      });
      assert.equal(result.status, 0, args.join(' '));
      assert.match(result.stdout, /Usage|latchkey/);
    }
  });
});
