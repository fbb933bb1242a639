import { type RawBuilder, sql } from 'kysely';
import type { Deps } from '../services/deps.js';
import type { Db } from '../store/schema.js';

/**
 * The lock rule as SQL, for the guarded UPDATEs below: a `stale` row's last failure is older than
 * a lock lasts, so its count starts afresh; an `open` row is not locked (below the threshold, or
 * stale).
 */
function lockConditions(deps: Deps, now: number): { stale: RawBuilder<boolean>; open: RawBuilder<boolean> } {
  const lockoutMs = deps.config.lockoutSeconds * 1000;
  // With a lock duration, a failure older than it starts the count afresh (reference §4.7).
  const stale =
    lockoutMs > 0
      ? sql<boolean>`(mfa_last_failed_at is not null and mfa_last_failed_at <= ${now - lockoutMs})`
      : sql<boolean>`(1 = 0)`;
  return { stale, open: sql<boolean>`(mfa_failed_count < ${deps.config.lockoutThreshold} or ${stale})` };
}

/**
 * Failed-passcode counting. An attempt is counted *before* its passcode is judged, in one
 * conditional UPDATE, so N concurrent guesses can never all be evaluated: once the counter
 * reaches the threshold, every further reservation matches no row and is refused as locked,
 * whichever instance runs it (the database serialises the row update).
 */
export async function reservePasscodeAttempt(deps: Deps, userId: string): Promise<number | undefined> {
  const now = deps.clock.now();
  const { stale, open } = lockConditions(deps, now);
  const row = await deps.db
    .updateTable('users')
    .set({
      mfa_failed_count: sql<number>`case when ${stale} then 1 else mfa_failed_count + 1 end`,
      mfa_last_failed_at: now,
    })
    .where('id', '=', userId)
    .where(open)
    .returning('mfa_failed_count')
    .executeTakeFirst();
  return row?.mfa_failed_count;
}

export async function resetPasscodeAttempts(db: Db, userId: string): Promise<void> {
  await db
    .updateTable('users')
    .set({ mfa_failed_count: 0, mfa_last_failed_at: null })
    .where('id', '=', userId)
    .execute();
}

/**
 * The count starts afresh after a good second factor that was judged without a reservation (a
 * sign-in with a passkey alone, whose user is known only from the credential): unless the user
 * is locked by now, in the same guarded UPDATE, so failures counted concurrently up to the
 * threshold keep their lock. False when locked.
 */
export async function resetPasscodeAttemptsUnlessLocked(deps: Deps, userId: string): Promise<boolean> {
  const { numUpdatedRows } = await deps.db
    .updateTable('users')
    .set({ mfa_failed_count: 0, mfa_last_failed_at: null })
    .where('id', '=', userId)
    .where(lockConditions(deps, deps.clock.now()).open)
    .executeTakeFirst();
  return numUpdatedRows > 0n;
}
