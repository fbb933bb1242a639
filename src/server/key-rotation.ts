import { resealHashKey } from '../crypto/hash-key.js';
import { envelopeKeyId } from '../crypto/key-ring.js';
import { decryptSecret, encryptSecret } from '../factors/totp/totp.js';
import { apiKeyAad } from '../identity/api-keys.js';
import type { Deps } from '../services/deps.js';

const BATCH = 500;

export interface ReencryptionReport {
  /** The key everything is now encrypted under (the first of LATCHKEY_SECRET_KEYS). */
  currentKeyId: string;
  reencrypted: { apiKeys: number; otpSecrets: number; serverKeys: number };
  /**
   * Secrets under another key once the pass is over, by key id: written meanwhile by an
   * instance whose first key is still the old one, or under a key this ring lacks. A key may
   * leave the ring once it is not listed here.
   */
  remaining: Record<string, number>;
}

/** A secret as stored, and how to store it again under the current key. */
interface Sealed {
  envelope: string;
  /** Rewrite it if it still holds `envelope`; true when this call changed it. */
  rewrite(): Promise<boolean>;
}

/** Every API key and TOTP secret, a page at a time (a large users table never sits in memory). */
async function* sealedSecrets(deps: Deps): AsyncGenerator<Sealed & { kind: 'apiKeys' | 'otpSecrets' }> {
  for (let after = ''; ; ) {
    const page = await deps.db
      .selectFrom('users')
      .select(['id', 'api_key_enc'])
      .where('id', '>', after)
      .orderBy('id')
      .limit(BATCH)
      .execute();
    for (const { id, api_key_enc: envelope } of page) {
      if (envelope === null) continue;
      yield {
        kind: 'apiKeys',
        envelope,
        rewrite: async () => {
          const aad = apiKeyAad(id);
          const result = await deps.db
            .updateTable('users')
            .set({ api_key_enc: deps.keys.encrypt(deps.keys.decrypt(envelope, aad), aad) })
            .where('id', '=', id)
            .where('api_key_enc', '=', envelope)
            .executeTakeFirst();
          return Number(result.numUpdatedRows) === 1;
        },
      };
    }
    const last = page.at(-1);
    if (!last) break;
    after = last.id;
  }
  for (let after = ''; ; ) {
    const page = await deps.db
      .selectFrom('otp_devices')
      .select(['id', 'secret_enc'])
      .where('id', '>', after)
      .orderBy('id')
      .limit(BATCH)
      .execute();
    for (const device of page) {
      yield {
        kind: 'otpSecrets',
        envelope: device.secret_enc,
        rewrite: async () => {
          const result = await deps.db
            .updateTable('otp_devices')
            .set({ secret_enc: encryptSecret(deps, device.id, decryptSecret(deps, device)) })
            .where('id', '=', device.id)
            .where('secret_enc', '=', device.secret_enc)
            .executeTakeFirst();
          return Number(result.numUpdatedRows) === 1;
        },
      };
    }
    const last = page.at(-1);
    if (!last) break;
    after = last.id;
  }
}

/**
 * Step 3 of a key rotation: re-encrypt every secret under the ring's current key, and seal the
 * hash key under it too. Each row is rewritten by a guarded UPDATE (`WHERE <column> = <what was
 * read>`), so a secret changed meanwhile (a reset API key) stays as its writer left it. Safe to
 * run again and beside serving instances: what it writes decrypts on every instance whose ring
 * holds the current key, which step 1 of the rotation ensured.
 */
export async function reencryptSecrets(deps: Deps): Promise<ReencryptionReport> {
  const current = deps.keys.currentKeyId;
  const report: ReencryptionReport = {
    currentKeyId: current,
    reencrypted: { apiKeys: 0, otpSecrets: 0, serverKeys: 0 },
    remaining: {},
  };
  for await (const secret of sealedSecrets(deps)) {
    const keyId = envelopeKeyId(secret.envelope);
    if (keyId === current || keyId === undefined || !deps.keys.has(keyId)) continue;
    if (await secret.rewrite()) report.reencrypted[secret.kind] += 1;
  }
  if (await resealHashKey(deps.db, deps.keys, deps.clock.now())) report.reencrypted.serverKeys += 1;

  // Counted afresh: rows another instance wrote meanwhile under an older key show up here.
  const remaining = report.remaining;
  const count = (envelope: string) => {
    const keyId = envelopeKeyId(envelope) ?? 'unknown';
    if (keyId !== current) remaining[keyId] = (remaining[keyId] ?? 0) + 1;
  };
  for await (const secret of sealedSecrets(deps)) count(secret.envelope);
  for (const key of await deps.db.selectFrom('server_keys').select('sealed').execute()) count(key.sealed);
  return report;
}
