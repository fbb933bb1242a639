import { hash } from 'node:crypto';
import { CompiledQuery } from 'kysely';
import { randomHex } from '../crypto/random.js';
import type { Actor, Deps } from '../deps.js';
import { recordEvent } from '../events/events.js';
import type { Store } from '../store/connect.js';
import type { Db, TokenRow, UserRow } from '../store/schema.js';

export type AuthMethod = 'PASSWORD' | 'APIKEY' | 'PASSCODE' | 'OTPPASSCODE';
export type TokenScope = 'SETUP-MFA';

export interface IssuedToken {
  id: string;
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
  const ttl = scope === 'SETUP-MFA' ? deps.config.setupTokenTtlSeconds : deps.config.tokenTtlSeconds;
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
  return { id, expiresAt, authenticatedBy, scope };
}

function liveTokenQuery(db: Db, hashes: string[], now: number) {
  // One round trip: the token and its user together.
  return db
    .selectFrom('tokens')
    .innerJoin('users', 'users.id', 'tokens.user_id')
    .selectAll('users')
    .select([
      'tokens.hash as token_hash',
      'tokens.created_at as token_created_at',
      'tokens.expires_at as token_expires_at',
      'tokens.authenticated_by as token_authenticated_by',
      'tokens.scope as token_scope',
    ])
    .where('tokens.hash', 'in', hashes)
    .where('tokens.revoked_at', 'is', null)
    .where('tokens.expires_at', '>', now);
}

type LiveTokenRow = NonNullable<Awaited<ReturnType<ReturnType<typeof liveTokenQuery>['executeTakeFirst']>>>;
const compiledLiveTokenSql = new WeakMap<Db, Map<number, string>>();

/**
 * Token validation is the hottest path, so its SQL is built once per key-ring size and reused
 * with fresh parameters (the parameter order is hashes, then now).
 */
async function findLiveToken(db: Db, hashes: string[], now: number): Promise<LiveTokenRow | undefined> {
  let byCount = compiledLiveTokenSql.get(db);
  if (!byCount) {
    byCount = new Map();
    compiledLiveTokenSql.set(db, byCount);
  }
  let text = byCount.get(hashes.length);
  if (text === undefined) {
    text = liveTokenQuery(db, hashes, now).compile().sql;
    byCount.set(hashes.length, text);
  }
  const result = await db.executeQuery<LiveTokenRow>(CompiledQuery.raw(text, [...hashes, now]));
  return result.rows[0];
}

export interface ResolvedToken {
  id: string;
  token: TokenRow;
  user: UserRow;
}

/** Live tokens recently validated, by digest of their id, while the store's write generation stands. */
interface ValidationCache {
  generation: number;
  byDigest: Map<string, { token: TokenRow; user: UserRow }>;
}

/** Bounded, so a flood of distinct valid tokens cannot grow memory without limit. */
const VALIDATION_CACHE_SIZE = 10_000;
const validationCaches = new WeakMap<Store, ValidationCache>();

/**
 * The cache that may answer for this store right now, emptied first if anything was written
 * since it was filled; undefined when the store cannot tell (PostgreSQL: other instances write).
 */
function currentValidationCache(store: Store): ValidationCache | undefined {
  const generation = store.writeGeneration?.();
  if (generation === undefined) return undefined;
  let cache = validationCaches.get(store);
  if (!cache) {
    cache = { generation, byDigest: new Map() };
    validationCaches.set(store, cache);
  } else if (cache.generation !== generation) {
    cache.byDigest.clear();
    cache.generation = generation;
  }
  return cache;
}

/**
 * A live token and its user. On PostgreSQL this reads the store on every call, so a revocation
 * is seen by every instance on the very next request. The embedded store belongs to one process,
 * which sees all its writes: there a validated token is remembered until any write at all (a
 * revocation, a user or policy change, a login) or its expiry, so it is never staler than the
 * database itself.
 */
export async function resolveToken(deps: Deps, tokenId: string): Promise<ResolvedToken | undefined> {
  if (!TOKEN_ID_PATTERN.test(tokenId)) return undefined;
  const now = deps.clock.now();
  const cache = currentValidationCache(deps.store);
  // A plain SHA-256 names the entry: a token id has 128 random bits, so its digest reveals
  // nothing, and it costs a fraction of the keyed hash, which only a store lookup needs.
  const cacheKey = cache ? hash('sha256', tokenId, 'base64') : '';
  const cached = cache?.byDigest.get(cacheKey);
  if (cached) {
    if (cached.token.expires_at > now) return { id: tokenId, ...cached };
    cache?.byDigest.delete(cacheKey);
    return undefined;
  }
  const candidates = deps.keys.hashCandidates(tokenId);
  const row = await findLiveToken(deps.db, candidates, now);
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
  });
  const resolved = { token, user: Object.freeze(user) };
  // Only a read that no write of this process overlapped may be remembered.
  if (cache && cache.generation === deps.store.writeGeneration?.()) {
    if (cache.byDigest.size >= VALIDATION_CACHE_SIZE) {
      const oldest = cache.byDigest.keys().next();
      if (!oldest.done) cache.byDigest.delete(oldest.value);
    }
    cache.byDigest.set(cacheKey, resolved);
  }
  return { id: tokenId, ...resolved };
}

export function authMethodsOf(token: TokenRow): AuthMethod[] {
  return token.authenticated_by.split(',') as AuthMethod[];
}

export async function revokeToken(
  deps: Deps,
  token: TokenRow,
  actor: Actor,
  owner: Pick<UserRow, 'id' | 'domain_id'>,
): Promise<void> {
  const now = deps.clock.now();
  await deps.db.transaction().execute(async (trx) => {
    await trx.updateTable('tokens').set({ revoked_at: now }).where('hash', '=', token.hash).execute();
    await recordEvent(trx, now, {
      type: 'tokens.revoked',
      actorId: actor.userId,
      userId: owner.id,
      domainId: owner.domain_id,
      source: actor.source,
      detail: { count: 1, reason: 'revoked by request' },
    });
  });
}

/**
 * Revoke a user's live tokens: all of them, or only those obtained by password alone (MFA
 * enabled, policy tightened). Runs inside the caller's transaction and returns how many went.
 */
export async function revokeUserTokens(
  db: Db,
  now: number,
  actor: Actor,
  user: Pick<UserRow, 'id' | 'domain_id'>,
  options: { passwordOnly?: boolean; reason: string },
): Promise<number> {
  let update = db
    .updateTable('tokens')
    .set({ revoked_at: now })
    .where('user_id', '=', user.id)
    .where('revoked_at', 'is', null)
    .where('expires_at', '>', now);
  if (options.passwordOnly) update = update.where('authenticated_by', '=', 'PASSWORD');
  const result = await update.executeTakeFirst();
  const count = Number(result.numUpdatedRows);
  if (!options.passwordOnly) {
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
      detail: { count, reason: options.reason, passwordOnly: options.passwordOnly === true },
    });
  }
  return count;
}
