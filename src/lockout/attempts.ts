import { sql } from 'kysely';
import type { Deps } from '../services/deps.js';
import type { Db } from '../store/schema.js';

/**
 * Failed-passcode counting. An attempt is counted *before* its passcode is judged, in one
 * conditional UPDATE, so N concurrent guesses can never all be evaluated: once the counter
 * reaches the threshold, every further reservation matches no row and is refused as locked,
 * whichever instance runs it (the database serialises the row update).
 */
export async function reservePasscodeAttempt(deps: Deps, userId: string): Promise<number | undefined> {
  const now = deps.clock.now();
  const threshold = deps.config.lockoutThreshold;
  const lockoutMs = deps.config.lockoutSeconds * 1000;
  // With a lock duration, a failure older than it starts the count afresh (reference §4.7).
  const stale =
    lockoutMs > 0
      ? sql<boolean>`(mfa_last_failed_at is not null and mfa_last_failed_at <= ${now - lockoutMs})`
      : sql<boolean>`(1 = 0)`;
  const row = await deps.db
    .updateTable('users')
    .set({
      mfa_failed_count: sql<number>`case when ${stale} then 1 else mfa_failed_count + 1 end`,
      mfa_last_failed_at: now,
    })
    .where('id', '=', userId)
    .where(sql<boolean>`(mfa_failed_count < ${threshold} or ${stale})`)
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
