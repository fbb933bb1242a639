import { sql } from 'kysely';
import type { Deps } from '../services/deps.js';
import type { Db } from '../store/schema.js';

/**
 * Consecutive wrong passwords per user (seed 001: "after six failed attempts … the system locks
 * your account"). As with passcodes, an attempt is counted *before* the password is judged, in
 * one conditional UPDATE, so concurrent guesses on any number of instances can never have more
 * than LATCHKEY_PASSWORD_LOCKOUT_ATTEMPTS passwords judged; a success gives the count back.
 *
 * The lock is timed by default (LATCHKEY_PASSWORD_LOCKOUT_SECONDS): anyone who knows a username
 * can cause it, so a lock that only an administrator lifts would let anyone lock anyone out.
 * Whether the lock is on is judged in locks.ts, for every surface alike.
 */
export type PasswordAttempt =
  /** Counted: the password may be judged. `locksNow` when a wrong one engages the lock. */
  | { kind: 'counted'; locksNow: boolean }
  /** The lock is on: no password is judged a success, right or wrong. */
  | { kind: 'locked' }
  /** Counting is off (LATCHKEY_PASSWORD_LOCKOUT_ATTEMPTS=0). */
  | { kind: 'off' };

export async function reservePasswordAttempt(deps: Deps, userId: string): Promise<PasswordAttempt> {
  const { attempts: threshold, seconds } = deps.config.passwordLockout;
  if (threshold === 0) return { kind: 'off' };
  const now = deps.clock.now();
  const lockoutMs = seconds * 1000;
  // With a lock duration, a failure older than it starts the count afresh.
  const stale =
    lockoutMs > 0
      ? sql<boolean>`(password_last_failed_at is not null and password_last_failed_at <= ${now - lockoutMs})`
      : sql<boolean>`(1 = 0)`;
  const row = await deps.db
    .updateTable('users')
    .set({
      password_failed_count: sql<number>`case when ${stale} then 1 else password_failed_count + 1 end`,
      password_last_failed_at: now,
    })
    .where('id', '=', userId)
    .where(sql<boolean>`(password_failed_count < ${threshold} or ${stale})`)
    .returning('password_failed_count')
    .executeTakeFirst();
  if (row === undefined) return { kind: 'locked' };
  return { kind: 'counted', locksNow: row.password_failed_count >= threshold };
}

/** A right password (or an administrator's unlock) clears the count. */
export async function resetPasswordAttempts(db: Db, userId: string): Promise<void> {
  await db
    .updateTable('users')
    .set({ password_failed_count: 0, password_last_failed_at: null })
    .where('id', '=', userId)
    .execute();
}
