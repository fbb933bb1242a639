import { randomHex } from '../crypto/random.js';
import { recordEvent } from '../events/events.js';
import type { Actor, Deps } from '../services/deps.js';
import type { Store } from '../store/connect.js';
import { type Db, type TokenRow, type UserRow, type UserView, userView } from '../store/schema.js';
import { type Acting, auditActor, type TokenScope } from './acting.js';
import { LiveTokenLookup } from './token-lookup.js';
import { ValidationCache } from './validation-cache.js';

/** PASSKEY: a WebAuthn signature (ours), a possession factor with the device's own verification. */
export type AuthMethod = 'PASSWORD' | 'APIKEY' | 'PASSCODE' | 'OTPPASSCODE' | 'PASSKEY';
export type { TokenScope } from './acting.js';

export interface IssuedToken {
  id: string;
  issuedAt: number;
  expiresAt: number;
  authenticatedBy: AuthMethod[];
  scope: TokenScope | null;
}

const TOKEN_ID_PATTERN = /^[0-9a-f]{32}$/;

/** The only place tokens come from. The id is returned once; only its keyed hash is stored. */
export async function issueToken(
  deps: Deps,
  db: Db,
  user: Pick<UserRow, 'id'>,
  authenticatedBy: AuthMethod[],
  scope: TokenScope | null = null,
): Promise<IssuedToken> {
  const id = randomHex();
  const now = deps.clock.now();
  // A scoped token is for one setup, not a day's work.
  const ttl = scope === null ? deps.config.tokenTtlSeconds : deps.config.setupTokenTtlSeconds;
  const expiresAt = now + ttl * 1000;
  await db
    .insertInto('tokens')
    .values({
      hash: deps.keys.hash(id),
      user_id: user.id,
      created_at: now,
      expires_at: expiresAt,
      authenticated_by: authenticatedBy.join(','),
      scope,
    })
    .execute();
  return { id, issuedAt: now, expiresAt, authenticatedBy, scope };
}

export interface ResolvedToken {
  id: string;
  token: TokenRow;
  user: UserRow;
  /**
   * userView(user), the same object for as long as the answer is remembered: what is rendered
   * from it may be remembered beside it (keyed weakly by it).
   */
  view: UserView;
}

/** Bounded, so a flood of distinct valid tokens cannot grow memory without limit. */
const VALIDATION_CACHE_SIZE = 10_000;

interface ValidationState {
  lookup: LiveTokenLookup;
  /** Whether the cache may be used now (PostgreSQL: while its feed is proven current). */
  current: () => boolean;
  /** Only for a store that announces every write made to it (the embedded one). */
  cache: ValidationCache<Omit<ResolvedToken, 'id'>> | undefined;
  /** Validations that read the store: what the tests and the benchmark watch. */
  storeReads: number;
}

const validationStates = new WeakMap<Store, ValidationState>();

function validationState(deps: Pick<Deps, 'store' | 'db' | 'clock'>): ValidationState {
  const { store } = deps;
  let state = validationStates.get(store);
  if (!state) {
    let cache: ValidationState['cache'];
    if (store.writes) {
      const created = new ValidationCache<Omit<ResolvedToken, 'id'>>(VALIDATION_CACHE_SIZE);
      store.writes.subscribe((write) => created.apply(write));
      cache = created;
    }
    state = {
      lookup: new LiveTokenLookup(deps.db, deps.clock),
      current: store.writesCurrent ?? (() => true),
      cache,
      storeReads: 0,
    };
    validationStates.set(store, state);
  }
  return state;
}

/** How validation has used the store so far: store reads, and entries remembered now. */
export function tokenValidationStats(store: Store): { storeReads: number; remembered: number } {
  const state = validationStates.get(store);
  return { storeReads: state?.storeReads ?? 0, remembered: state?.cache?.size ?? 0 };
}

/**
 * A live token and its user, remembered once validated until a write that may change its token
 * row, its user's row or its account's row, or until it expires (ValidationCache). The embedded
 * store belongs to one process, which sees all its writes as it makes them. On PostgreSQL the
 * other instances' writes arrive by the database's notifications, and the cache is used only
 * while that feed is proven current (store/postgres-write-listener.ts): a revocation on another
 * instance is refused here within FEED_WINDOW_MS at most, one made here at once.
 */
export async function resolveToken(deps: Deps, tokenId: string): Promise<ResolvedToken | undefined> {
  const now = deps.clock.now();
  const state = validationState(deps);
  const cache = state.cache !== undefined && state.current() ? state.cache : undefined;
  // The entry is named by the token id itself, as Keystone's in-process token cache does: the
  // process holds each presented id anyway while it answers, and the store keeps only keyed
  // hashes. A SHA-256 of the id per validation, the one OpenSSL call left on this path, cost
  // about a seventh of a cached validation's CPU (docs/benchmarks.md).
  const cached = cache?.get(tokenId);
  if (cached) {
    if (cached.token.expires_at > now)
      return { id: tokenId, token: cached.token, user: cached.user, view: cached.view };
    cache?.forget(tokenId);
    return undefined;
  }
  // Only ids of this shape are remembered, so the cache is asked first.
  if (!TOKEN_ID_PATTERN.test(tokenId)) return undefined;
  const ticket = cache?.ticket();
  state.storeReads++;
  const row = await state.lookup.find(deps.keys.hashCandidates(tokenId));
  if (!row) return undefined;
  const { token_hash, token_created_at, token_expires_at, token_authenticated_by, token_scope, ...user } =
    row;
  const token: TokenRow = Object.freeze({
    hash: token_hash,
    user_id: user.id,
    created_at: token_created_at,
    expires_at: token_expires_at,
    authenticated_by: token_authenticated_by,
    scope: token_scope,
    revoked_at: null,
    revoked_reason: null,
  });
  const frozenUser = Object.freeze(user);
  const resolved = { token, user: frozenUser, view: Object.freeze(userView(frozenUser)) };
  // Only a read that no write overlapped may be remembered: the ticket says whether one did.
  if (cache && ticket !== undefined) cache.remember(ticket, tokenId, resolved);
  return { id: tokenId, ...resolved };
}

export function authMethodsOf(token: TokenRow): AuthMethod[] {
  return token.authenticated_by.split(',') as AuthMethod[];
}

/** Why tokens are revoked: stored with each revoked token and named in the audit event. */
export type RevocationReason =
  | 'revoked by request'
  | 'signed out'
  | 'password changed'
  | 'user disabled'
  | 'multi-factor enabled'
  | 'user requires multi-factor'
  | 'domain requires multi-factor'
  | 'domain requires passkeys'
  | 'passkey added';

/** Reasons that mean "this user must now set up MFA": the panel says so at the next sign-in. */
export const MFA_REQUIRED_REASONS: ReadonlySet<RevocationReason> = new Set([
  'user requires multi-factor',
  'domain requires multi-factor',
]);

/** One token revoked by the one acting (its own user, or one with the right to). */
export async function revokeToken(
  deps: Deps,
  token: TokenRow,
  acting: Pick<Acting, 'user' | 'source'>,
  owner: Pick<UserRow, 'id' | 'domain_id'>,
  reason: RevocationReason = 'revoked by request',
): Promise<void> {
  const actor = auditActor(acting);
  const now = deps.clock.now();
  await deps.db.transaction().execute(async (trx) => {
    await trx
      .updateTable('tokens')
      .set({ revoked_at: now, revoked_reason: reason })
      .where('hash', '=', token.hash)
      .where('revoked_at', 'is', null)
      .execute();
    await recordEvent(trx, now, {
      type: 'tokens.revoked',
      actorId: actor.userId,
      userId: owner.id,
      domainId: owner.domain_id,
      source: actor.source,
      detail: { count: 1, reason },
    });
  });
}

/**
 * Why a token that no longer resolves stopped working: revoked (with its reason), expired, or
 * unknown. Lets a surface explain an ended session; it never makes a token usable.
 */
export async function whyTokenEnded(
  deps: Deps,
  tokenId: string,
): Promise<{ kind: 'revoked'; reason: RevocationReason | null } | { kind: 'expired' } | { kind: 'unknown' }> {
  if (!TOKEN_ID_PATTERN.test(tokenId)) return { kind: 'unknown' };
  const row = await deps.db
    .selectFrom('tokens')
    .select(['revoked_at', 'revoked_reason', 'expires_at'])
    .where('hash', 'in', deps.keys.hashCandidates(tokenId))
    .executeTakeFirst();
  if (!row) return { kind: 'unknown' };
  if (row.revoked_at !== null)
    return { kind: 'revoked', reason: (row.revoked_reason as RevocationReason | null) ?? null };
  if (row.expires_at <= deps.clock.now()) return { kind: 'expired' };
  return { kind: 'unknown' };
}

/**
 * Which of a user's live tokens a revocation takes: all of them; those obtained by password
 * alone (MFA enabled, MFA required); or those obtained with a password and no passkey (passkeys
 * required: an API key's token and a passkey's stay, and so does a scoped token, which can only
 * set something up).
 */
export type RevokedTokens = 'all' | 'password-only' | 'password-without-passkey';

/** The WHERE clause of a RevokedTokens choice, on the tokens table. */
export function whereRevoked<Query extends TokenFilter<Query>>(query: Query, which: RevokedTokens): Query {
  switch (which) {
    case 'all':
      return query;
    case 'password-only':
      return query.where('authenticated_by', '=', 'PASSWORD');
    case 'password-without-passkey':
      return query
        .where('scope', 'is', null)
        .where('authenticated_by', 'like', '%PASSWORD%')
        .where('authenticated_by', 'not like', '%PASSKEY%');
  }
}

/** A query over the tokens table that can be narrowed (a select or an update). */
interface TokenFilter<Query> {
  where(column: 'authenticated_by', operator: '=' | 'like' | 'not like', value: string): Query;
  where(column: 'scope', operator: 'is', value: null): Query;
}

/**
 * Revoke a user's live tokens (RevokedTokens), except the one `exceptHash` names (the token of
 * the one making the change). Runs inside the caller's transaction and returns how many went.
 */
export async function revokeUserTokens(
  db: Db,
  now: number,
  actor: Actor,
  user: Pick<UserRow, 'id' | 'domain_id'>,
  options: { passwordOnly?: boolean; which?: RevokedTokens; exceptHash?: string; reason: RevocationReason },
): Promise<number> {
  const which = options.which ?? (options.passwordOnly ? 'password-only' : 'all');
  let update = db
    .updateTable('tokens')
    .set({ revoked_at: now, revoked_reason: options.reason })
    .where('user_id', '=', user.id)
    .where('revoked_at', 'is', null)
    .where('expires_at', '>', now);
  update = whereRevoked(update, which);
  if (options.exceptHash !== undefined) update = update.where('hash', '!=', options.exceptHash);
  const result = await update.executeTakeFirst();
  const count = Number(result.numUpdatedRows);
  if (which === 'all') {
    // A half-finished MFA login must not survive a password change or a disable either.
    await db.deleteFrom('mfa_sessions').where('user_id', '=', user.id).execute();
  }
  if (count > 0) {
    await recordEvent(db, now, {
      type: 'tokens.revoked',
      actorId: actor.userId,
      userId: user.id,
      domainId: user.domain_id,
      source: actor.source,
      detail: { count, reason: options.reason, passwordOnly: which === 'password-only' },
    });
  }
  return count;
}
