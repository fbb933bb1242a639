import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { ConfigError } from '../src/config/config.js';
import { envelopeKeyId, KeyRing } from '../src/crypto/key-ring.js';
import { bypassHash } from '../src/factors/bypass-codes/bypass-codes.js';
import { reencryptSecrets } from '../src/server/key-rotation.js';
import { accessOf, apiKeyLogin, tokenOf } from './support/api.js';
import { createAccount, createInstance, createTestEnv, dialects, type TestEnv } from './support/harness.js';
import { childEnv } from './support/process.js';
import { assertEverySecretWorks, type SecretHolder, secretHolder, totpLogin } from './support/secrets.js';

/**
 * The rotation of docs/deployment.md, on a live database: add a key, make it current,
 * re-encrypt, retire the old one. Every TOTP secret, API key, bypass code and token made under
 * the old key keeps working on an instance that no longer has it.
 */
const OLD = { id: '1', key: Buffer.alloc(32, 7) }; // the harness's key
const NEW = { id: '2', key: randomBytes(32) };
const ROOT = path.resolve(import.meta.dirname, '..');

async function envelopesByKey(env: TestEnv): Promise<Record<string, number>> {
  const counts: Record<string, number> = {};
  const users = await env.deps.db.selectFrom('users').select('api_key_enc').execute();
  const devices = await env.deps.db.selectFrom('otp_devices').select('secret_enc').execute();
  const keys = await env.deps.db.selectFrom('server_keys').select('sealed').execute();
  for (const envelope of [
    ...users.map((row) => row.api_key_enc),
    ...devices.map((row) => row.secret_enc),
    ...keys.map((row) => row.sealed),
  ]) {
    if (envelope === null) continue;
    const id = envelopeKeyId(envelope) ?? '?';
    counts[id] = (counts[id] ?? 0) + 1;
  }
  return counts;
}

for (const dialect of dialects()) {
  describe(`key rotation on a live database (${dialect})`, () => {
    let env: TestEnv;
    before(async () => {
      env = await createTestEnv({ dialect });
    });
    after(() => env.close());

    test('add a key, make it current, re-encrypt, retire the old one: every secret still works', async () => {
      // Before: one key. An account, a user with an authenticator and bypass codes, tokens.
      const owner = await createAccount(env);
      const early = await secretHolder(env, owner);
      const before = await envelopesByKey(env);
      assert.deepEqual(Object.keys(before), ['1']);

      // 1. Add the new key behind the old one, on every instance: the old key still encrypts.
      const added = await createInstance(env, { keys: new KeyRing([OLD, NEW]) });
      try {
        assert.equal(accessOf(await apiKeyLogin(added, owner.username, owner.apiKey)).user.id, owner.id);
        tokenOf(await totpLogin(added, early));
      } finally {
        await added.close();
      }

      // 2. Make it current: new secrets are encrypted under it from now on.
      const current = await createInstance(env, { keys: new KeyRing([NEW, OLD]) });
      let late: SecretHolder;
      try {
        late = await secretHolder(current, owner);
        tokenOf(await totpLogin(current, early));
        const mixed = await envelopesByKey(current);
        assert.ok((mixed['1'] ?? 0) > 0 && (mixed['2'] ?? 0) > 0, JSON.stringify(mixed));

        // 3. Re-encrypt everything under the current key.
        const report = await reencryptSecrets(current.deps);
        assert.equal(report.currentKeyId, '2');
        assert.deepEqual(report.remaining, {});
        assert.equal(report.reencrypted.otpSecrets, 1, 'the early authenticator');
        assert.equal(report.reencrypted.serverKeys, 1, 'the hash key, re-sealed');
        // Under key 1 were the API keys, the early authenticator and the sealed hash key.
        assert.equal(report.reencrypted.apiKeys, (mixed['1'] ?? 0) - 2, 'every API key made under key 1');
        assert.deepEqual(Object.keys(await envelopesByKey(current)), ['2']);
        const again = await reencryptSecrets(current.deps);
        assert.deepEqual(again.reencrypted, { apiKeys: 0, otpSecrets: 0, serverKeys: 0 }, 'nothing left');
      } finally {
        await current.close();
      }

      // 4. Retire the old key: an instance with only the new one serves everything.
      const retired = await createInstance(env, { keys: new KeyRing([NEW]) });
      try {
        assert.equal(accessOf(await apiKeyLogin(retired, owner.username, owner.apiKey)).user.id, owner.id);
        for (const holder of [early, late]) await assertEverySecretWorks(retired, holder);
      } finally {
        await retired.close();
      }

      // An instance left with only the retired key is refused at start, naming the setting.
      await assert.rejects(
        createInstance(env, { keys: new KeyRing([OLD]) }),
        (error: unknown) =>
          error instanceof ConfigError &&
          error.variable === 'LATCHKEY_SECRET_KEYS' &&
          /sealed under key '2', which is not in this key ring/.test(error.message),
      );
    });
  });

  describe(`a database written before the hash key moved into it (${dialect})`, () => {
    let env: TestEnv;
    before(async () => {
      env = await createTestEnv({ dialect });
    });
    after(() => env.close());

    test('keeps the hash key its ring used, so its tokens and bypass codes still match', async () => {
      const ring = new KeyRing([OLD]);
      const [derived] = ring.derive('keyed hash');
      assert.ok(derived);
      const legacy = ring.withHashKey(derived);
      assert.notEqual(env.deps.keys.hash('x'), legacy.hash('x'), 'a new database gets a random key');

      // Rewrite what the holder has as the old code stored it: hashes under the derived key.
      const owner = await createAccount(env);
      const holder = await secretHolder(env, owner);
      const { db } = env.deps;
      await db
        .updateTable('tokens')
        .set({ hash: legacy.hash(holder.user.token) })
        .where('hash', '=', env.deps.keys.hash(holder.user.token))
        .execute();
      for (const code of holder.bypassCodes) {
        await db
          .updateTable('bypass_codes')
          .set({ code_hash: bypassHash({ ...env.deps, keys: legacy }, holder.user.id, code) })
          .where('code_hash', '=', bypassHash(env.deps, holder.user.id, code))
          .execute();
      }
      await db.deleteFrom('server_keys').execute();

      const upgraded = await createInstance(env, { keys: ring });
      try {
        assert.equal(upgraded.deps.keys.hash('x'), legacy.hash('x'));
        await assertEverySecretWorks(upgraded, holder);
      } finally {
        await upgraded.close();
      }
    });
  });

  describe(`retiring a key too early (${dialect})`, () => {
    let env: TestEnv;
    before(async () => {
      env = await createTestEnv({ dialect });
    });
    after(() => env.close());

    test('an instance without the key the database is sealed under refuses to start', async () => {
      await createAccount(env);
      const current = await createInstance(env, { keys: new KeyRing([NEW, OLD]) });
      await current.close();
      await assert.rejects(
        createInstance(env, { keys: new KeyRing([NEW]) }),
        (error: unknown) =>
          error instanceof ConfigError &&
          error.variable === 'LATCHKEY_SECRET_KEYS' &&
          /sealed under key '1'/.test(error.message),
      );
      await assert.rejects(
        createInstance(env, { keys: new KeyRing([{ id: '1', key: randomBytes(32) }]) }),
        (error: unknown) =>
          error instanceof ConfigError &&
          /key '1' is not the key this database was sealed with/.test(error.message),
      );
    });
  });
}

describe('latchkey server reencrypt-secrets', () => {
  let env: TestEnv;
  before(async () => {
    env = await createTestEnv({ dialect: 'sqlite' });
  });
  after(() => env.close());

  const ring = (...keys: { id: string; key: Buffer }[]) =>
    keys.map(({ id, key }) => `${id}:${key.toString('base64')}`).join(',');
  const run = (secretKeys: string) =>
    spawnSync(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'server', 'reencrypt-secrets'], {
      cwd: ROOT,
      env: {
        ...childEnv(),
        LATCHKEY_DATA_DIR: env.dataDir,
        LATCHKEY_DATABASE_URL: env.database.url,
        LATCHKEY_SECRET_KEYS: secretKeys,
        LATCHKEY_LOG_LEVEL: 'warn',
      },
      encoding: 'utf8',
    });

  test('re-encrypts under the first key, says the old one may go, and refuses a ring that lacks it', async () => {
    const owner = await createAccount(env);
    const done = run(ring(NEW, OLD));
    assert.equal(done.status, 0, done.stderr);
    assert.match(done.stdout, /^re-encrypted under key '2': \d+ API keys, 0 TOTP secrets, 1 server keys$/m);
    assert.match(done.stdout, /nothing is left under another key: only key '2' is needed/);
    assert.deepEqual(Object.keys(await envelopesByKey(env)), ['2']);

    const refused = run(ring(OLD));
    assert.equal(refused.status, 2);
    assert.match(
      refused.stderr,
      /^latchkey: configuration error: LATCHKEY_SECRET_KEYS: .*sealed under key '2'/,
    );

    const retired = await createInstance(env, { keys: new KeyRing([NEW]) });
    try {
      assert.equal(accessOf(await apiKeyLogin(retired, owner.username, owner.apiKey)).user.id, owner.id);
    } finally {
      await retired.close();
    }
  });
});
