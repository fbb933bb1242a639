import { randomBytes } from 'node:crypto';
import { isIP } from 'node:net';
import {
  type AuthenticationResponseJSON,
  type AuthenticatorTransport,
  generateAuthenticationOptions,
  generateRegistrationOptions,
  type PublicKeyCredentialCreationOptionsJSON,
  type PublicKeyCredentialRequestOptionsJSON,
  type RegistrationResponseJSON,
  verifyAuthenticationResponse,
  verifyRegistrationResponse,
} from '@simplewebauthn/server';
import { decodeClientDataJSON, isoBase64URL, parseAuthenticatorData } from '@simplewebauthn/server/helpers';
import { revokeUserTokens } from '../../access/tokens.js';
import type { Config } from '../../config/config.js';
import { badRequest, notFound } from '../../core/errors.js';
import { randomHex } from '../../crypto/random.js';
import { recordEvent, recordRepeatedEvent } from '../../events/events.js';
import { takeAnonymousStartSlot } from '../../lockout/source-failures.js';
import type { Actor, Deps } from '../../services/deps.js';
import type { Db, PasskeyRow, UserRow, UserView } from '../../store/schema.js';
import { deleteSecondFactorCodes, lockUserRow, turnMultiFactorOff } from '../settings.js';

/** Up to ten passkeys and security keys per user. */
export const MAX_PASSKEYS = 10;
export const MAX_PASSKEY_NICKNAME = 64;
/** How long a ceremony's challenge stays answerable (the browser's prompt times out sooner). */
const CHALLENGE_TTL_MS = 5 * 60_000;
const PROMPT_TIMEOUT_MS = 120_000;
const INVALID_NAME = /[\p{Cc}\p{Cs}]/u;

export const PasskeyMessages = {
  nicknameMissing: 'Give the passkey or security key a nickname.',
  nicknameTooLong: `The nickname is too long: at most ${MAX_PASSKEY_NICKNAME} characters.`,
  nicknameInvalid: 'The nickname may not contain control characters.',
  tooMany: `You have added the maximum number of passkeys and security keys (${MAX_PASSKEYS}).`,
  notFound: 'Passkey not found',
  notVerified: 'The passkey or security key could not be verified. Try again.',
  malformed: 'The answer of the passkey or security key is malformed.',
  alreadyRegistered: 'This passkey or security key is already registered.',
  noPasskey: 'This user has no passkey or security key.',
  refused: 'The passkey or security key was not accepted.',
  /** What a passkey user's password login adds to the challenge where no browser can sign. */
  apiChallenge:
    'This user signs in with a passkey or security key, which works in the control panel; here, enter a passcode from the authenticator app or phone, or a bypass code.',
  apiChallengeCodes:
    'This user signs in with a passkey or security key, which works in the control panel; here, enter a bypass code or a temporary code from an administrator.',
  /** A password login of a user whose account requires passkeys, anywhere but the panel. */
  accountRequiresPasskey:
    "This user's account requires a passkey or security key as the second factor, which only the control panel can ask for: a password login is refused here. For automation, authenticate with an API key (RAX-KSKEY:apiKeyCredentials).",
} as const;

export type PasskeyRefusal =
  | 'counter'
  | 'origin'
  | 'unknown credential'
  | 'wrong user'
  | 'signature'
  | 'challenge';

export interface RelyingParty {
  id: string;
  origin: string;
  name: string;
}

/**
 * The relying party is this service's public URL (LATCHKEY_PUBLIC_URL, by default
 * http://localhost:<port>): its host name is the RP ID and its origin the only one accepted.
 * Nothing is taken from request headers. WebAuthn refuses IP addresses as RP IDs: then passkeys
 * are unavailable and `unavailable` says why.
 */
export function relyingParty(config: Pick<Config, 'publicUrl' | 'port' | 'otpIssuer'>): RelyingParty {
  let rp = relyingParties.get(config);
  if (!rp) {
    const url = new URL(config.publicUrl ?? `http://localhost:${config.port}`);
    rp = Object.freeze({ id: url.hostname, origin: url.origin, name: config.otpIssuer });
    relyingParties.set(config, rp);
  }
  return rp;
}

/** Read once per configuration (which is read once at start): every ceremony asks for it. */
const relyingParties = new WeakMap<object, Readonly<RelyingParty>>();

/** True when the RP ID is a name (WebAuthn refuses an IP address as one). */
export function passkeysAvailable(config: Pick<Config, 'publicUrl' | 'port' | 'otpIssuer'>): boolean {
  const { id } = relyingParty(config);
  return isIP(id.replace(/^\[|\]$/g, '')) === 0;
}

export interface PasskeyView {
  id: string;
  nickname: string;
  createdAt: number;
  lastUsedAt: number | null;
  transports: string[];
  aaguid: string;
  backupEligible: boolean;
  backedUp: boolean;
}

const viewOf = (row: PasskeyRow): PasskeyView => ({
  id: row.id,
  nickname: row.nickname,
  createdAt: row.created_at,
  lastUsedAt: row.last_used_at,
  transports: row.transports === '' ? [] : row.transports.split(','),
  aaguid: row.aaguid,
  backupEligible: row.backup_eligible === 1,
  backedUp: row.backed_up === 1,
});

function checkNickname(nickname: string | null | undefined): string {
  const trimmed = nickname?.trim() ?? '';
  if (trimmed === '') throw badRequest(PasskeyMessages.nicknameMissing);
  if (INVALID_NAME.test(trimmed)) throw badRequest(PasskeyMessages.nicknameInvalid);
  if (trimmed.length > MAX_PASSKEY_NICKNAME) throw badRequest(PasskeyMessages.nicknameTooLong);
  return trimmed;
}

const challengeHash = (deps: Deps, challenge: string): string =>
  deps.keys.hashFor('passkey-challenge', challenge);

type Purpose = 'register' | 'second-factor' | 'passwordless';

async function storeChallenge(
  deps: Deps,
  challenge: string,
  purpose: Purpose,
  userId: string | null,
  nickname: string | null,
): Promise<void> {
  const now = deps.clock.now();
  await deps.db
    .insertInto('passkey_challenges')
    .values({
      hash: challengeHash(deps, challenge),
      user_id: userId,
      purpose,
      nickname,
      expires_at: now + CHALLENGE_TTL_MS,
      created_at: now,
    })
    .execute();
}

/**
 * The challenge the answer signed, taken (deleted) so it answers once: undefined when it is not
 * one of ours, expired, of another ceremony or of another user.
 */
async function takeChallenge(
  deps: Deps,
  challenge: string,
  purpose: Purpose,
  userId: string | null,
): Promise<{ nickname: string | null } | undefined> {
  const row = await deps.db
    .deleteFrom('passkey_challenges')
    .where('hash', '=', challengeHash(deps, challenge))
    .returningAll()
    .executeTakeFirst();
  if (!row || row.expires_at <= deps.clock.now() || row.purpose !== purpose) return undefined;
  if (row.user_id !== userId) return undefined;
  return { nickname: row.nickname };
}

/** The user's WebAuthn user handle, created at the first ceremony: random, never the user id. */
async function userHandle(deps: Deps, user: UserView): Promise<string> {
  if (user.webauthn_handle) return user.webauthn_handle;
  await deps.db
    .updateTable('users')
    .set({ webauthn_handle: isoBase64URL.fromBuffer(randomBytes(32)) })
    .where('id', '=', user.id)
    .where('webauthn_handle', 'is', null)
    .execute();
  const row = await deps.db
    .selectFrom('users')
    .select('webauthn_handle')
    .where('id', '=', user.id)
    .executeTakeFirstOrThrow();
  if (!row.webauthn_handle) throw new Error('webauthn handle not stored');
  return row.webauthn_handle;
}

async function passkeyRows(db: Db, userId: string): Promise<PasskeyRow[]> {
  return db
    .selectFrom('passkeys')
    .selectAll()
    .where('user_id', '=', userId)
    .orderBy('created_at')
    .orderBy('id')
    .execute();
}

const transportsOf = (row: PasskeyRow): AuthenticatorTransport[] =>
  row.transports === '' ? [] : (row.transports.split(',') as AuthenticatorTransport[]);

export async function listPasskeys(db: Db, userId: string): Promise<PasskeyView[]> {
  return (await passkeyRows(db, userId)).map(viewOf);
}

export async function countPasskeys(db: Db, userId: string): Promise<number> {
  const { count } = await db
    .selectFrom('passkeys')
    .select((eb) => eb.fn.countAll<number>().as('count'))
    .where('user_id', '=', userId)
    .executeTakeFirstOrThrow();
  return Number(count);
}

/** Step 1 of adding a passkey: the options for navigator.credentials.create(). */
export async function startPasskeyRegistration(
  deps: Deps,
  user: UserView,
  nickname: string | null | undefined,
): Promise<PublicKeyCredentialCreationOptionsJSON> {
  const name = checkNickname(nickname);
  const existing = await passkeyRows(deps.db, user.id);
  if (existing.length >= MAX_PASSKEYS) throw badRequest(PasskeyMessages.tooMany);
  const rp = relyingParty(deps.config);
  const handle = await userHandle(deps, user);
  const options = await generateRegistrationOptions({
    rpName: rp.name,
    rpID: rp.id,
    userName: user.username,
    userID: isoBase64URL.toBuffer(handle),
    userDisplayName: user.username,
    timeout: PROMPT_TIMEOUT_MS,
    // No attestation: which make of key a user holds is theirs to keep.
    attestationType: 'none',
    excludeCredentials: existing.map((row) => ({ id: row.credential_id, transports: transportsOf(row) })),
    // Discoverable where the authenticator can, so the passkey can also sign in without a password.
    authenticatorSelection: { residentKey: 'preferred', userVerification: 'preferred' },
  });
  await storeChallenge(deps, options.challenge, 'register', user.id, name);
  return options;
}

interface ClientData {
  challenge: string;
  origin: string;
}

function clientDataOf(clientDataJSON: unknown): ClientData {
  if (typeof clientDataJSON !== 'string' || clientDataJSON.length > 8192)
    throw badRequest(PasskeyMessages.malformed);
  try {
    const data = decodeClientDataJSON(clientDataJSON);
    if (typeof data.challenge !== 'string' || typeof data.origin !== 'string') throw new Error('fields');
    return { challenge: data.challenge, origin: data.origin };
  } catch {
    throw badRequest(PasskeyMessages.malformed);
  }
}

const isRecord = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

/** The browser's answer as JSON text, checked for the fields the verification reads. */
export function parseRegistrationResponse(text: string): RegistrationResponseJSON {
  const value = parseJson(text);
  if (
    !isRecord(value) ||
    typeof value.id !== 'string' ||
    typeof value.rawId !== 'string' ||
    value.type !== 'public-key' ||
    !isRecord(value.response) ||
    typeof value.response.clientDataJSON !== 'string' ||
    typeof value.response.attestationObject !== 'string'
  )
    throw badRequest(PasskeyMessages.malformed);
  return value as unknown as RegistrationResponseJSON;
}

export function parseAuthenticationResponse(text: string): AuthenticationResponseJSON {
  const value = parseJson(text);
  if (
    !isRecord(value) ||
    typeof value.id !== 'string' ||
    value.id.length > 1400 ||
    typeof value.rawId !== 'string' ||
    value.type !== 'public-key' ||
    !isRecord(value.response) ||
    typeof value.response.clientDataJSON !== 'string' ||
    typeof value.response.authenticatorData !== 'string' ||
    typeof value.response.signature !== 'string' ||
    (value.response.userHandle !== undefined && typeof value.response.userHandle !== 'string')
  )
    throw badRequest(PasskeyMessages.malformed);
  return value as unknown as AuthenticationResponseJSON;
}

function parseJson(text: string): unknown {
  if (text.length > 65_536) throw badRequest(PasskeyMessages.malformed);
  try {
    return JSON.parse(text);
  } catch {
    throw badRequest(PasskeyMessages.malformed);
  }
}

async function refuse(
  deps: Deps,
  source: string | null,
  reason: PasskeyRefusal,
  user: Pick<UserView, 'id' | 'domain_id'> | undefined,
): Promise<void> {
  await recordRepeatedEvent(deps.db, deps.clock.now(), {
    type: 'passkey.refused',
    subject: user ? `${user.id}:${reason}` : `unknown:${reason}`,
    actorId: user?.id ?? null,
    userId: user?.id ?? null,
    domainId: user?.domain_id ?? null,
    source,
    detail: { reason },
  });
}

/**
 * Step 2 of adding a passkey: the browser's answer verified against the challenge of step 1, the
 * origin and the RP ID. A user without multi-factor authentication has it on from here, with the
 * passkey as the default method; password-only tokens are revoked as when enabling it otherwise.
 */
export async function finishPasskeyRegistration(
  deps: Deps,
  actor: Actor,
  user: UserView,
  response: RegistrationResponseJSON,
): Promise<PasskeyView> {
  const rp = relyingParty(deps.config);
  const clientData = clientDataOf(response.response.clientDataJSON);
  const pending = await takeChallenge(deps, clientData.challenge, 'register', user.id);
  if (!pending?.nickname) {
    await refuse(deps, actor.source, 'challenge', user);
    throw badRequest(PasskeyMessages.notVerified);
  }
  if (clientData.origin !== rp.origin) {
    await refuse(deps, actor.source, 'origin', user);
    throw badRequest(PasskeyMessages.notVerified);
  }
  let verification: Awaited<ReturnType<typeof verifyRegistrationResponse>>;
  try {
    verification = await verifyRegistrationResponse({
      response,
      expectedChallenge: clientData.challenge,
      expectedOrigin: rp.origin,
      expectedRPID: rp.id,
      requireUserVerification: false,
    });
  } catch {
    await refuse(deps, actor.source, 'signature', user);
    throw badRequest(PasskeyMessages.notVerified);
  }
  if (!verification.verified) throw badRequest(PasskeyMessages.notVerified);
  const info = verification.registrationInfo;
  const nickname = pending.nickname;
  const id = randomHex();
  const row: PasskeyRow = {
    id,
    user_id: user.id,
    credential_id: info.credential.id,
    public_key: isoBase64URL.fromBuffer(info.credential.publicKey),
    sign_count: info.credential.counter,
    transports: (info.credential.transports ?? response.response.transports ?? []).join(','),
    aaguid: info.aaguid,
    backup_eligible: info.credentialDeviceType === 'multiDevice' ? 1 : 0,
    backed_up: info.credentialBackedUp ? 1 : 0,
    nickname,
    created_at: deps.clock.now(),
    last_used_at: null,
  };
  await deps.db.transaction().execute(async (trx) => {
    // The row lock makes count-then-insert atomic: concurrent adds cannot pass the limit together.
    const current = await lockUserRow(trx, user.id);
    if ((await countPasskeys(trx, user.id)) >= MAX_PASSKEYS) throw badRequest(PasskeyMessages.tooMany);
    const taken = await trx
      .selectFrom('passkeys')
      .select('id')
      .where('credential_id', '=', row.credential_id)
      .executeTakeFirst();
    if (taken) throw badRequest(PasskeyMessages.alreadyRegistered);
    await trx.insertInto('passkeys').values(row).execute();
    const now = row.created_at;
    const event = { actorId: actor.userId, userId: user.id, domainId: user.domain_id, source: actor.source };
    await recordEvent(trx, now, {
      ...event,
      type: 'passkey.registered',
      detail: { passkeyId: id, nickname },
    });
    if (current.mfa_enabled !== 1) {
      await trx
        .updateTable('users')
        .set({
          mfa_enabled: 1,
          factor_type: 'PASSKEY',
          mfa_failed_count: 0,
          mfa_last_failed_at: null,
          updated_at: now,
        })
        .where('id', '=', user.id)
        .execute();
      const revoked = await revokeUserTokens(trx, now, actor, user, {
        passwordOnly: true,
        reason: 'multi-factor enabled',
      });
      await recordEvent(trx, now, {
        ...event,
        type: 'mfa.enabled',
        detail: { factorType: 'PASSKEY', tokensRevoked: revoked },
      });
    }
  });
  return viewOf(row);
}

/**
 * The options for navigator.credentials.get(): for a second factor, the user's own credentials
 * with user verification preferred; for a sign-in with a passkey alone (userId null), any
 * discoverable credential, with user verification required.
 */
export async function startPasskeyAuthentication(
  deps: Deps,
  userId: string | null,
  source: string | null,
): Promise<PublicKeyCredentialRequestOptionsJSON> {
  const rp = relyingParty(deps.config);
  // Anyone may start a sign-in with a passkey alone, and each start stores a challenge.
  if (userId === null) await takeAnonymousStartSlot(deps, source);
  const rows = userId === null ? [] : await passkeyRows(deps.db, userId);
  if (userId !== null && rows.length === 0) throw badRequest(PasskeyMessages.noPasskey).because('no-passkey');
  const options = await generateAuthenticationOptions({
    rpID: rp.id,
    timeout: PROMPT_TIMEOUT_MS,
    allowCredentials: rows.map((row) => ({ id: row.credential_id, transports: transportsOf(row) })),
    userVerification: userId === null ? 'required' : 'preferred',
  });
  await storeChallenge(
    deps,
    options.challenge,
    userId === null ? 'passwordless' : 'second-factor',
    userId,
    null,
  );
  return options;
}

/** A credential's owner, read with the credential: the user row and its account's policy. */
export interface PasskeyOwner {
  user: UserRow;
  /** The account's MFA level (null without an account). */
  domainLevel: string | null;
  /** Whether the account requires passkeys. */
  domainPasskeysOnly: boolean;
}

export type PasskeyCheck =
  | { ok: true; owner: PasskeyOwner }
  /** `owner`: the user the answer's credential belongs to, when it is registered. */
  | { ok: false; reason: PasskeyRefusal; owner: PasskeyOwner | undefined };

/**
 * A registered credential with its owner and the owner's account, in one statement: what judging
 * an answer needs, and all a sign-in with a passkey alone needs besides.
 */
async function findCredential(
  db: Db,
  credentialId: string,
): Promise<
  | { passkey: Pick<PasskeyRow, 'id' | 'public_key' | 'sign_count' | 'nickname'>; owner: PasskeyOwner }
  | undefined
> {
  const row = await db
    .selectFrom('passkeys')
    .innerJoin('users', 'users.id', 'passkeys.user_id')
    .leftJoin('domains', 'domains.id', 'users.domain_id')
    .selectAll('users')
    .select([
      'passkeys.id as passkey_id',
      'passkeys.public_key as passkey_public_key',
      'passkeys.sign_count as passkey_sign_count',
      'passkeys.nickname as passkey_nickname',
      'domains.mfa_enforcement as domain_mfa_enforcement',
      'domains.passkeys_only as domain_passkeys_only',
    ])
    .where('passkeys.credential_id', '=', credentialId)
    .executeTakeFirst();
  if (!row) return undefined;
  const {
    passkey_id,
    passkey_public_key,
    passkey_sign_count,
    passkey_nickname,
    domain_mfa_enforcement,
    domain_passkeys_only,
    ...user
  } = row;
  return {
    passkey: {
      id: passkey_id,
      public_key: passkey_public_key,
      sign_count: passkey_sign_count,
      nickname: passkey_nickname,
    },
    owner: {
      user,
      domainLevel: domain_mfa_enforcement ?? null,
      domainPasskeysOnly: domain_passkeys_only === 1,
    },
  };
}

/**
 * Judges a signed answer: the challenge (ours, unexpired, for this ceremony and user, spent
 * now), the origin exactly, the credential (registered, and the expected user's), the signature
 * and user verification, then the signature counter, which must go up when the authenticator
 * keeps one: a counter that goes backwards means a copied key, and is refused. Every refusal is
 * recorded with its reason. A malformed answer is a 400. `expected`: the user a second factor is
 * for; null for a sign-in with a passkey alone, where the credential names its user.
 */
export async function checkPasskeyAssertion(
  deps: Deps,
  expected: Pick<UserView, 'id' | 'domain_id'> | null,
  response: AuthenticationResponseJSON,
  source: string | null,
): Promise<PasskeyCheck> {
  const rp = relyingParty(deps.config);
  const clientData = clientDataOf(response.response.clientDataJSON);
  let authData: ReturnType<typeof parseAuthenticatorData>;
  try {
    authData = parseAuthenticatorData(isoBase64URL.toBuffer(response.response.authenticatorData));
  } catch {
    throw badRequest(PasskeyMessages.malformed);
  }
  const passwordless = expected === null;
  const found = await findCredential(deps.db, response.id);
  const owner = found?.owner;
  const refused = async (
    reason: PasskeyRefusal,
    who: Pick<UserView, 'id' | 'domain_id'> | undefined,
  ): Promise<PasskeyCheck> => {
    await refuse(deps, source, reason, who);
    return { ok: false, reason, owner };
  };
  const pending = await takeChallenge(
    deps,
    clientData.challenge,
    passwordless ? 'passwordless' : 'second-factor',
    expected?.id ?? null,
  );
  if (!pending) return refused('challenge', expected ?? owner?.user);
  if (clientData.origin !== rp.origin) return refused('origin', expected ?? owner?.user);
  if (!found || !owner) return refused('unknown credential', expected ?? undefined);
  if (expected !== null && owner.user.id !== expected.id) return refused('wrong user', expected);
  // A discoverable credential names its user: the handle must be the one we gave that user.
  if (passwordless && response.response.userHandle !== owner.user.webauthn_handle)
    return refused('wrong user', owner.user);
  const { passkey } = found;
  let verification: Awaited<ReturnType<typeof verifyAuthenticationResponse>>;
  try {
    verification = await verifyAuthenticationResponse({
      response,
      expectedChallenge: clientData.challenge,
      expectedOrigin: rp.origin,
      expectedRPID: rp.id,
      // The counter is judged below, after the signature, so that only a real signature can
      // report a copied key.
      credential: { id: response.id, publicKey: isoBase64URL.toBuffer(passkey.public_key), counter: 0 },
      requireUserVerification: passwordless,
    });
  } catch {
    return refused('signature', owner.user);
  }
  if (!verification.verified) return refused('signature', owner.user);
  const counter = authData.counter;
  if ((counter > 0 || passkey.sign_count > 0) && counter <= passkey.sign_count)
    return refused('counter', owner.user);
  const now = deps.clock.now();
  // The counter, last use and backup state move with the event that records the use.
  const moved = await deps.db.transaction().execute(async (trx) => {
    let update = trx
      .updateTable('passkeys')
      .set({
        sign_count: counter,
        last_used_at: now,
        backed_up: verification.authenticationInfo.credentialBackedUp ? 1 : 0,
      })
      .where('id', '=', passkey.id);
    // The counter moves forward only: of two answers with the same count at once (a copy used in
    // parallel), the second finds the row already there and is refused.
    if (counter > 0) update = update.where('sign_count', '<', counter);
    const { numUpdatedRows } = await update.executeTakeFirst();
    if (numUpdatedRows === 0n) return false;
    await recordEvent(trx, now, {
      type: 'passkey.used',
      actorId: owner.user.id,
      userId: owner.user.id,
      domainId: owner.user.domain_id,
      source,
      detail: { passkeyId: passkey.id, nickname: passkey.nickname, passwordless },
    });
    return true;
  });
  if (!moved) return refused('counter', owner.user);
  return { ok: true, owner };
}

export async function renamePasskey(
  deps: Deps,
  actor: Actor,
  user: UserView,
  passkeyId: string,
  nickname: string | null | undefined,
): Promise<PasskeyView> {
  const name = checkNickname(nickname);
  return deps.db.transaction().execute(async (trx) => {
    const row = await trx
      .selectFrom('passkeys')
      .selectAll()
      .where('user_id', '=', user.id)
      .where('id', '=', passkeyId)
      .executeTakeFirst();
    if (!row) throw notFound(PasskeyMessages.notFound);
    await trx.updateTable('passkeys').set({ nickname: name }).where('id', '=', row.id).execute();
    await recordEvent(trx, deps.clock.now(), {
      type: 'passkey.renamed',
      actorId: actor.userId,
      userId: user.id,
      domainId: user.domain_id,
      source: actor.source,
      detail: { passkeyId: row.id, nickname: name, from: row.nickname },
    });
    return viewOf({ ...row, nickname: name });
  });
}

/**
 * Deletes a passkey. When it was the last one and passkeys were the default method, the default
 * becomes the user's authenticator app or phone if verified; with neither, multi-factor
 * authentication goes off (with its bypass codes), as when an administrator removes it.
 */
export async function deletePasskey(
  deps: Deps,
  actor: Actor,
  user: UserView,
  passkeyId: string,
): Promise<void> {
  await deps.db.transaction().execute(async (trx) => {
    const current = await lockUserRow(trx, user.id);
    const row = await trx
      .selectFrom('passkeys')
      .selectAll()
      .where('user_id', '=', user.id)
      .where('id', '=', passkeyId)
      .executeTakeFirst();
    if (!row) throw notFound(PasskeyMessages.notFound);
    await trx.deleteFrom('passkeys').where('id', '=', row.id).execute();
    const now = deps.clock.now();
    const event = { actorId: actor.userId, userId: user.id, domainId: user.domain_id, source: actor.source };
    await recordEvent(trx, now, {
      ...event,
      type: 'passkey.deleted',
      detail: { passkeyId: row.id, nickname: row.nickname },
    });
    if (current.factor_type !== 'PASSKEY' || (await countPasskeys(trx, user.id)) > 0) return;
    const otp = await trx
      .selectFrom('otp_devices')
      .select('id')
      .where('user_id', '=', user.id)
      .where('verified', '=', 1)
      .executeTakeFirst();
    const phone = await trx
      .selectFrom('mobile_phones')
      .select('id')
      .where('user_id', '=', user.id)
      .where('verified', '=', 1)
      .executeTakeFirst();
    const next = otp ? 'OTP' : phone ? 'SMS' : null;
    if (next) {
      await trx
        .updateTable('users')
        .set({ factor_type: next, updated_at: now })
        .where('id', '=', user.id)
        .execute();
      await trx.deleteFrom('mfa_sessions').where('user_id', '=', user.id).execute();
      await recordEvent(trx, now, {
        ...event,
        type: 'mfa.factor_changed',
        detail: { from: 'PASSKEY', to: next },
      });
      return;
    }
    await turnMultiFactorOff(trx, user.id, now);
    await deleteSecondFactorCodes(trx, user.id);
    await recordEvent(trx, now, { ...event, type: 'mfa.disabled', detail: { factorType: 'PASSKEY' } });
  });
}

/** Makes passkeys the default method (turning multi-factor authentication on if it was off). */
export async function makePasskeysDefault(deps: Deps, actor: Actor, user: UserView): Promise<void> {
  await deps.db.transaction().execute(async (trx) => {
    const current = await lockUserRow(trx, user.id);
    if ((await countPasskeys(trx, user.id)) === 0) throw badRequest(PasskeyMessages.noPasskey);
    if (current.mfa_enabled === 1 && current.factor_type === 'PASSKEY') return;
    const now = deps.clock.now();
    await trx
      .updateTable('users')
      .set({ mfa_enabled: 1, factor_type: 'PASSKEY', updated_at: now })
      .where('id', '=', user.id)
      .execute();
    await trx.deleteFrom('mfa_sessions').where('user_id', '=', user.id).execute();
    await recordEvent(trx, now, {
      type: 'mfa.factor_changed',
      actorId: actor.userId,
      userId: user.id,
      domainId: user.domain_id,
      source: actor.source,
      detail: { from: current.factor_type, to: 'PASSKEY' },
    });
  });
}

/** Deletes challenges past their expiry (housekeeping). */
export async function deleteExpiredPasskeyChallenges(db: Db, now: number): Promise<void> {
  await db.deleteFrom('passkey_challenges').where('expires_at', '<', now).execute();
}

/** How many of these users have at least one passkey or security key (an account's adoption). */
export async function countUsersWithPasskey(db: Db, userIds: string[]): Promise<number> {
  if (userIds.length === 0) return 0;
  const row = await db
    .selectFrom('passkeys')
    .select((eb) => eb.fn.count<number>('user_id').distinct().as('count'))
    .where('user_id', 'in', userIds)
    .executeTakeFirst();
  return Number(row?.count ?? 0);
}
