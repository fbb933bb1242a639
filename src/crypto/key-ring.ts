import { createCipheriv, createDecipheriv, createHmac, hkdfSync, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { ConfigError } from '../config/config.js';

interface RingKey {
  id: string;
  master: Buffer;
  encryptionKey: Buffer;
}

const ENVELOPE_VERSION = 'v1';

/** The key id an envelope names (`v1:<keyId>:...`), or undefined when it is not an envelope. */
export function envelopeKeyId(envelope: string): string | undefined {
  const [version, id] = envelope.split(':');
  return version === ENVELOPE_VERSION ? id : undefined;
}

/**
 * Versioned key ring. The first key encrypts; every key decrypts (the envelope names its key),
 * so a new key can be made current while secrets encrypted under the old one are re-encrypted
 * (key-rotation.ts), after which the old key can leave the ring.
 *
 * Keyed hashes (tokens, session ids, one-time and bypass codes) use one hash key that does not
 * rotate with the ring: a hash cannot be re-computed without the value, and bypass codes may
 * never expire. That key is random, kept in the database sealed under the current ring key
 * (crypto/hash-key.ts), and re-sealed when the ring rotates; `withHashKey` attaches it.
 */
export class KeyRing {
  private readonly keys: RingKey[];

  constructor(
    private readonly masterKeys: { id: string; key: Buffer }[],
    private readonly hashKey?: Buffer,
  ) {
    if (masterKeys.length === 0) throw new Error('key ring is empty');
    this.keys = masterKeys.map(({ id, key }) => ({
      id,
      master: key,
      encryptionKey: Buffer.from(hkdfSync('sha256', key, Buffer.alloc(0), 'latchkey encryption', 32)),
    }));
  }

  /** The same ring, hashing with `hashKey` (the database's, opened by crypto/hash-key.ts). */
  withHashKey(hashKey: Buffer): KeyRing {
    return new KeyRing(this.masterKeys, hashKey);
  }

  private get primary(): RingKey {
    const key = this.keys[0];
    if (!key) throw new Error('key ring is empty');
    return key;
  }

  /** The id of the key that encrypts. */
  get currentKeyId(): string {
    return this.primary.id;
  }

  has(keyId: string): boolean {
    return this.keys.some((key) => key.id === keyId);
  }

  /** AES-256-GCM; the envelope is `v1:<keyId>:<iv>:<ciphertext+tag>`, base64url parts. */
  encrypt(plaintext: string, associatedData = ''): string {
    const { id, encryptionKey } = this.primary;
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', encryptionKey, iv);
    cipher.setAAD(Buffer.from(associatedData));
    const body = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final(), cipher.getAuthTag()]);
    return [ENVELOPE_VERSION, id, iv.toString('base64url'), body.toString('base64url')].join(':');
  }

  decrypt(envelope: string, associatedData = ''): string {
    const [version, id, ivText, bodyText] = envelope.split(':');
    const key = this.keys.find((candidate) => candidate.id === id);
    if (version !== ENVELOPE_VERSION || !key || ivText === undefined || bodyText === undefined) {
      throw new Error('cannot decrypt: unknown envelope or key version');
    }
    const body = Buffer.from(bodyText, 'base64url');
    const decipher = createDecipheriv('aes-256-gcm', key.encryptionKey, Buffer.from(ivText, 'base64url'));
    decipher.setAAD(Buffer.from(associatedData));
    decipher.setAuthTag(body.subarray(body.length - 16));
    return Buffer.concat([decipher.update(body.subarray(0, body.length - 16)), decipher.final()]).toString(
      'utf8',
    );
  }

  private get keyedHashKey(): Buffer {
    if (!this.hashKey) throw new Error('key ring has no hash key: open it from the database first');
    return this.hashKey;
  }

  /** HMAC-SHA-256 under the hash key: how tokens, session ids and codes are stored. */
  hash(value: string): string {
    return createHmac('sha256', this.keyedHashKey).update(value).digest('hex');
  }

  /** Every hash a stored value may have been stored under: one, since the hash key does not rotate. */
  hashCandidates(value: string): string[] {
    return [this.hash(value)];
  }

  /**
   * A key of its own for one purpose (e.g. signing the control panel's cookies), one per ring
   * key, primary first: a signer signs with the first and accepts any, so rotation loses nothing.
   */
  derive(purpose: string): Buffer[] {
    return this.keys.map(({ master }) =>
      Buffer.from(hkdfSync('sha256', master, Buffer.alloc(0), `latchkey ${purpose}`, 32)),
    );
  }

  /** HMAC for values bound to a user (one-time codes), so equal codes of two users differ. */
  hashFor(scope: string, value: string): string {
    return this.hash(`${scope}\u0000${value}`);
  }
}

export function parseKeyRing(text: string, variable = 'LATCHKEY_SECRET_KEYS'): KeyRing {
  const entries = text
    .split(',')
    .map((part) => part.trim())
    .filter((part) => part !== '');
  const keys = entries.map((entry) => {
    const match = /^([A-Za-z0-9_-]{1,32}):([A-Za-z0-9+/=_-]+)$/.exec(entry);
    if (!match?.[1] || !match[2])
      throw new ConfigError(variable, 'expected "id:base64key[,id:base64key...]"');
    const key = Buffer.from(match[2], 'base64');
    if (key.length < 32) throw new ConfigError(variable, `key '${match[1]}' must be at least 32 bytes`);
    return { id: match[1], key };
  });
  if (keys.length === 0) throw new ConfigError(variable, 'no keys given');
  if (new Set(keys.map((key) => key.id)).size !== keys.length)
    throw new ConfigError(variable, 'duplicate key id');
  return new KeyRing(keys);
}

export function generateKeyRingText(): string {
  return `1:${randomBytes(32).toString('base64')}`;
}

/**
 * The embedded default: keep a generated key ring in the data directory. The caller logs a
 * warning, since losing this file makes every encrypted secret unreadable.
 */
export function loadOrCreateKeyRingFile(dataDir: string): { ring: KeyRing; created: boolean; file: string } {
  const file = path.join(dataDir, 'secret-keys');
  fs.mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  let created = false;
  try {
    fs.writeFileSync(file, `${generateKeyRingText()}\n`, { mode: 0o600, flag: 'wx' });
    created = true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
  }
  return { ring: parseKeyRing(fs.readFileSync(file, 'utf8'), file), created, file };
}
