import type { AuthMethod } from '../access/tokens.js';
import { randomUrlSafe } from '../crypto/random.js';
import type { FactorType } from '../policy/enforcement.js';
import type { Deps } from '../services/deps.js';
import type { Db } from '../store/schema.js';

/**
 * The OS-MF session: what step 1 already proved, for 5 minutes, used at most once. It is not a
 * token (it lives in its own table), so it can never pass as X-Auth-Token.
 */
export function newMfaSessionId(): string {
  return randomUrlSafe(32);
}

/** How the session is stored and looked up; an SMS passcode is bound to it too. */
export function mfaSessionHash(deps: Deps, sessionId: string): string {
  return deps.keys.hash(sessionId);
}

export async function startMfaSession(
  deps: Deps,
  id: string,
  userId: string,
  factor: FactorType,
  done: AuthMethod[],
): Promise<void> {
  const now = deps.clock.now();
  await deps.db
    .insertInto('mfa_sessions')
    .values({
      hash: mfaSessionHash(deps, id),
      user_id: userId,
      factor,
      authenticated_by: done.join(','),
      created_at: now,
      expires_at: now + deps.config.mfaSessionTtlSeconds * 1000,
    })
    .execute();
  // Expired sessions are useless; sweep them opportunistically so the table stays small.
  await deps.db
    .deleteFrom('mfa_sessions')
    .where('expires_at', '<', now - 3_600_000)
    .execute();
}

export type SessionLookup =
  | { state: 'live'; hash: string; userId: string; factor: FactorType; done: AuthMethod[] }
  | { state: 'expired' }
  | { state: 'unknown' };

export async function findMfaSession(deps: Deps, sessionId: string): Promise<SessionLookup> {
  if (sessionId.length === 0 || sessionId.length > 512) return { state: 'unknown' };
  const row = await deps.db
    .selectFrom('mfa_sessions')
    .selectAll()
    .where('hash', 'in', deps.keys.hashCandidates(sessionId))
    .executeTakeFirst();
  if (!row || row.consumed_at !== null) return { state: 'unknown' };
  if (row.expires_at <= deps.clock.now()) return { state: 'expired' };
  return {
    state: 'live',
    hash: row.hash,
    userId: row.user_id,
    factor: row.factor as FactorType,
    done: row.authenticated_by.split(',') as AuthMethod[],
  };
}

/** Burn the session before a token is issued; false when a concurrent request already did. */
export async function consumeMfaSession(db: Db, hash: string, now: number): Promise<boolean> {
  const result = await db
    .updateTable('mfa_sessions')
    .set({ consumed_at: now })
    .where('hash', '=', hash)
    .where('consumed_at', 'is', null)
    .where('expires_at', '>', now)
    .executeTakeFirst();
  return Number(result.numUpdatedRows) === 1;
}
