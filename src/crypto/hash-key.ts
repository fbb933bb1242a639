import { randomBytes } from 'node:crypto';
import { ConfigError } from '../config/config.js';
import type { Db } from '../store/schema.js';
import { envelopeKeyId, type KeyRing } from './key-ring.js';

const PURPOSE = 'keyed-hash';
/** Binds the sealed key to its row, as every envelope is bound to its row. */
const ASSOCIATED_DATA = 'server-key:keyed-hash';

function unseal(ring: KeyRing, sealed: string): Buffer {
  const keyId = envelopeKeyId(sealed) ?? '?';
  if (!ring.has(keyId)) {
    throw new ConfigError(
      'LATCHKEY_SECRET_KEYS',
      `the database's keys are sealed under key '${keyId}', which is not in this key ring: every instance needs the same keys, and a key leaves the ring only after the re-encryption (docs/deployment.md, "Rotating keys")`,
    );
  }
  try {
    return Buffer.from(ring.decrypt(sealed, ASSOCIATED_DATA), 'base64');
  } catch {
    throw new ConfigError(
      'LATCHKEY_SECRET_KEYS',
      `key '${keyId}' is not the key this database was sealed with: every instance needs the same keys`,
    );
  }
}

/**
 * The hash key a database gets when it has none yet. A new database gets a random one. A database
 * that already holds users was written when hashes were keyed by the ring's first key, so it
 * keeps that key (derived as it was then): every token and bypass code stored before still
 * matches, and from now on the key is the database's and survives rotations.
 */
async function firstHashKey(db: Db, ring: KeyRing): Promise<Buffer> {
  const anyone = await db.selectFrom('users').select('id').limit(1).executeTakeFirst();
  const [legacy] = ring.derive('keyed hash');
  return anyone && legacy ? legacy : randomBytes(32);
}

/**
 * The ring with the database's hash key attached. The first instance to start makes the key; a
 * concurrent first start loses the insert and reads the winner's. A ring that cannot open it
 * is refused here, at start, not at the first login.
 */
export async function openHashKey(db: Db, ring: KeyRing, now: number): Promise<KeyRing> {
  const read = () =>
    db.selectFrom('server_keys').select('sealed').where('purpose', '=', PURPOSE).executeTakeFirst();
  let row = await read();
  if (!row) {
    const sealed = ring.encrypt((await firstHashKey(db, ring)).toString('base64'), ASSOCIATED_DATA);
    await db
      .insertInto('server_keys')
      .values({ purpose: PURPOSE, sealed, created_at: now, updated_at: now })
      .onConflict((conflict) => conflict.column('purpose').doNothing())
      .execute();
    row = await read();
    if (!row) throw new Error('the hash key was not stored');
  }
  return ring.withHashKey(unseal(ring, row.sealed));
}

/** Seal the hash key under the ring's current key; false when it already was. */
export async function resealHashKey(db: Db, ring: KeyRing, now: number): Promise<boolean> {
  const row = await db
    .selectFrom('server_keys')
    .select('sealed')
    .where('purpose', '=', PURPOSE)
    .executeTakeFirstOrThrow();
  if (envelopeKeyId(row.sealed) === ring.currentKeyId) return false;
  const key = unseal(ring, row.sealed);
  const result = await db
    .updateTable('server_keys')
    .set({ sealed: ring.encrypt(key.toString('base64'), ASSOCIATED_DATA), updated_at: now })
    .where('purpose', '=', PURPOSE)
    .where('sealed', '=', row.sealed)
    .executeTakeFirst();
  return Number(result.numUpdatedRows) === 1;
}
