/**
 * A WebAuthn authenticator and the browser's part of a ceremony, in software, for the benchmark
 * and the tests: no browser, no CTAP. It makes ES256 credentials (P-256 with node:crypto),
 * answers navigator.credentials.create() with attestation "none", and
 * navigator.credentials.get() with an assertion, as the JSON that @simplewebauthn/browser posts.
 *
 * It plays the browser too: the client data carry the exact origin it was made for, and it
 * refuses options whose RP ID that origin's host cannot claim, as a browser does. It does not
 * refuse what only a server should judge (user verification asked but not performed, a counter
 * set back): that is what the tests check the server for. Only node:crypto is used, never the
 * library whose verification it is held against.
 */
import {
  createHash,
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  type JsonWebKey,
  type KeyObject,
  randomBytes,
  sign,
} from 'node:crypto';
import type {
  AuthenticationResponseJSON,
  PublicKeyCredentialCreationOptionsJSON,
  PublicKeyCredentialRequestOptionsJSON,
  RegistrationResponseJSON,
} from '@simplewebauthn/server';

/** COSE algorithm -7: ECDSA with SHA-256 on P-256. */
const ES256 = -7;
/** Authenticator data flags (WebAuthn §6.1). */
const FLAG = { userPresent: 0x01, userVerified: 0x04, backupEligible: 0x08, backedUp: 0x10, attested: 0x40 };

const b64url = (bytes: Buffer): string => bytes.toString('base64url');
const sha256 = (data: Buffer | string): Buffer => createHash('sha256').update(data).digest();

type Cbor = number | string | Buffer | CborMap;
/** A CBOR map as its entries, in the order they are written (COSE keys are written in order). */
interface CborMap {
  entries: [Cbor, Cbor][];
}

function cborHead(major: number, value: number): Buffer {
  const type = major << 5;
  if (value < 24) return Buffer.from([type | value]);
  if (value < 0x100) return Buffer.from([type | 24, value]);
  if (value < 0x10000) return Buffer.from([type | 25, value >> 8, value & 0xff]);
  const head = Buffer.alloc(5);
  head[0] = type | 26;
  head.writeUInt32BE(value, 1);
  return head;
}

/** The few CBOR types a COSE key and an attestation object need. */
function cbor(value: Cbor): Buffer {
  if (typeof value === 'number') return value >= 0 ? cborHead(0, value) : cborHead(1, -1 - value);
  if (typeof value === 'string') {
    const text = Buffer.from(value, 'utf8');
    return Buffer.concat([cborHead(3, text.length), text]);
  }
  if (Buffer.isBuffer(value)) return Buffer.concat([cborHead(2, value.length), value]);
  return Buffer.concat([
    cborHead(5, value.entries.length),
    ...value.entries.flatMap(([key, item]) => [cbor(key), cbor(item)]),
  ]);
}

/** Whether a page at `origin` may use `rpId` (the host itself or a parent domain of it). */
function originMayUse(origin: string, rpId: string): boolean {
  const host = new URL(origin).hostname;
  return host === rpId || host.endsWith(`.${rpId}`);
}

/**
 * The ceremony's options in a panel page, as its script reads them: the JSON in the prompt's
 * data-options attribute (the page escapes it as HTML).
 */
export function optionsInPage<T>(html: string): T {
  const quoted = /data-options="([^"]*)"/.exec(html)?.[1];
  if (quoted === undefined) throw new Error('no passkey prompt in the page');
  return JSON.parse(
    quoted
      .replaceAll('&quot;', '"')
      .replaceAll('&#39;', "'")
      .replaceAll('&lt;', '<')
      .replaceAll('&gt;', '>')
      .replaceAll('&amp;', '&'),
  ) as T;
}

/** One credential, as the authenticator keeps it; `toRecord` carries it to another process. */
export interface SoftwareCredentialRecord {
  id: string;
  rpId: string;
  /** The user handle the relying party gave (base64url), returned with every assertion. */
  userHandle: string;
  privateKey: JsonWebKey;
  signCount: number;
}

export class SoftwareCredential {
  readonly id: string;
  readonly rpId: string;
  readonly userHandle: string;
  readonly privateKey: KeyObject;
  /**
   * The signature counter: each assertion increases it by one before signing. Set it back to
   * play a cloned key.
   */
  signCount: number;

  constructor(record: SoftwareCredentialRecord) {
    this.id = record.id;
    this.rpId = record.rpId;
    this.userHandle = record.userHandle;
    this.privateKey = createPrivateKey({ key: record.privateKey, format: 'jwk' });
    this.signCount = record.signCount;
  }

  toRecord(): SoftwareCredentialRecord {
    return {
      id: this.id,
      rpId: this.rpId,
      userHandle: this.userHandle,
      privateKey: this.privateKey.export({ format: 'jwk' }),
      signCount: this.signCount,
    };
  }

  /** The public key as COSE_Key (EC2, P-256, ES256), as the attested credential data carry it. */
  cosePublicKey(): Buffer {
    const jwk = createPublicKey(this.privateKey).export({ format: 'jwk' });
    return cbor({
      entries: [
        [1, 2], // kty: EC2
        [3, ES256], // alg
        [-1, 1], // crv: P-256
        [-2, Buffer.from(jwk.x ?? '', 'base64url')],
        [-3, Buffer.from(jwk.y ?? '', 'base64url')],
      ],
    });
  }
}

export interface SoftwareAuthenticatorOptions {
  /** The page's origin, exactly as a browser would put it in the client data. */
  origin: string;
  /** Verifies its user (a PIN, a fingerprint): sets UV. Default true, as a platform passkey. */
  userVerifying?: boolean;
  /** A synced passkey: backup eligible (BE) and backed up (BS). Default false, device-bound. */
  synced?: boolean;
}

export class SoftwareAuthenticator {
  readonly origin: string;
  readonly credentials: SoftwareCredential[] = [];
  private readonly userVerifying: boolean;
  private readonly synced: boolean;
  /** All zeros: an authenticator that states no make (attestation "none"). */
  private readonly aaguid = Buffer.alloc(16);

  constructor(options: SoftwareAuthenticatorOptions) {
    this.origin = new URL(options.origin).origin;
    this.userVerifying = options.userVerifying ?? true;
    this.synced = options.synced ?? false;
  }

  /** An authenticator holding credentials made elsewhere (another process's, say). */
  static holding(
    options: SoftwareAuthenticatorOptions,
    records: SoftwareCredentialRecord[],
  ): SoftwareAuthenticator {
    const authenticator = new SoftwareAuthenticator(options);
    authenticator.credentials.push(...records.map((record) => new SoftwareCredential(record)));
    return authenticator;
  }

  private flags(extra = 0): number {
    let flags = FLAG.userPresent | extra;
    if (this.userVerifying) flags |= FLAG.userVerified;
    if (this.synced) flags |= FLAG.backupEligible | FLAG.backedUp;
    return flags;
  }

  private authenticatorData(rpId: string, flags: number, signCount: number, attested?: Buffer): Buffer {
    const head = Buffer.alloc(37);
    sha256(rpId).copy(head, 0);
    head[32] = flags;
    head.writeUInt32BE(signCount >>> 0, 33);
    return attested ? Buffer.concat([head, attested]) : head;
  }

  private clientData(type: 'webauthn.create' | 'webauthn.get', challenge: string): Buffer {
    // The members in the order browsers write them.
    return Buffer.from(JSON.stringify({ type, challenge, origin: this.origin, crossOrigin: false }));
  }

  /** navigator.credentials.create(): a new ES256 credential, attestation "none". */
  create(options: PublicKeyCredentialCreationOptionsJSON): RegistrationResponseJSON {
    const rpId = options.rp.id ?? new URL(this.origin).hostname;
    if (!originMayUse(this.origin, rpId)) throw new Error(`${this.origin} may not use the RP ID ${rpId}`);
    if (!options.pubKeyCredParams.some((param) => param.alg === ES256))
      throw new Error('the relying party does not accept ES256');
    const excluded = new Set((options.excludeCredentials ?? []).map((credential) => credential.id));
    if (this.credentials.some((credential) => excluded.has(credential.id) && credential.rpId === rpId))
      throw new Error('this authenticator already holds a credential of that list');
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const credential = new SoftwareCredential({
      id: b64url(randomBytes(32)),
      rpId,
      userHandle: options.user.id,
      privateKey: privateKey.export({ format: 'jwk' }),
      signCount: 0,
    });
    const rawId = Buffer.from(credential.id, 'base64url');
    const idLength = Buffer.alloc(2);
    idLength.writeUInt16BE(rawId.length);
    const attested = Buffer.concat([this.aaguid, idLength, rawId, credential.cosePublicKey()]);
    const authData = this.authenticatorData(rpId, this.flags(FLAG.attested), 0, attested);
    const attestationObject = cbor({
      entries: [
        ['fmt', 'none'],
        ['attStmt', { entries: [] }],
        ['authData', authData],
      ],
    });
    this.credentials.push(credential);
    return {
      id: credential.id,
      rawId: credential.id,
      type: 'public-key',
      response: {
        clientDataJSON: b64url(this.clientData('webauthn.create', options.challenge)),
        attestationObject: b64url(attestationObject),
        transports: ['internal'],
        publicKeyAlgorithm: ES256,
      },
      clientExtensionResults: {},
      authenticatorAttachment: 'platform',
    };
  }

  /**
   * navigator.credentials.get(): an assertion by the credential the options allow (any of this
   * RP's when they list none, as for a discoverable credential), its counter increased by one.
   */
  get(options: PublicKeyCredentialRequestOptionsJSON): AuthenticationResponseJSON {
    const rpId = options.rpId ?? new URL(this.origin).hostname;
    if (!originMayUse(this.origin, rpId)) throw new Error(`${this.origin} may not use the RP ID ${rpId}`);
    const allowed = new Set((options.allowCredentials ?? []).map((credential) => credential.id));
    const credential = this.credentials.find(
      (candidate) => candidate.rpId === rpId && (allowed.size === 0 || allowed.has(candidate.id)),
    );
    if (!credential) throw new Error('no credential of this authenticator answers these options');
    return this.assert(credential, options.challenge);
  }

  /** An assertion by `credential` over `challenge`. */
  assert(credential: SoftwareCredential, challenge: string): AuthenticationResponseJSON {
    credential.signCount += 1;
    const authData = this.authenticatorData(credential.rpId, this.flags(), credential.signCount);
    const clientDataJSON = this.clientData('webauthn.get', challenge);
    // ES256 signatures are DER-encoded, node:crypto's default for EC keys.
    const signature = sign(
      'sha256',
      Buffer.concat([authData, sha256(clientDataJSON)]),
      credential.privateKey,
    );
    return {
      id: credential.id,
      rawId: credential.id,
      type: 'public-key',
      response: {
        clientDataJSON: b64url(clientDataJSON),
        authenticatorData: b64url(authData),
        signature: b64url(signature),
        userHandle: credential.userHandle,
      },
      clientExtensionResults: {},
      authenticatorAttachment: 'platform',
    };
  }
}
