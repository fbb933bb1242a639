import { badRequest } from '../core/errors.js';
import type { Deps } from '../services/deps.js';
import type { Db } from '../store/schema.js';

/**
 * LATCHKEY_PASSWORD_HISTORY, as Keystone's `unique_last_password_count`: a new password must
 * differ from the user's last N passwords, the current one included (1 refuses only the current
 * password; 0 is off). Keystone's own message, so OpenStack clients show what they know.
 */
export function passwordHistoryMessage(count: number): string {
  return `The new password cannot be identical to a previous password. The total number which includes the new password must be unique is ${count}.`;
}

/** Refuses (400) a password among the user's last LATCHKEY_PASSWORD_HISTORY ones. */
export async function assertNotRecentPassword(
  deps: Pick<Deps, 'db' | 'passwords' | 'config'>,
  userId: string,
  password: string,
): Promise<void> {
  const count = deps.config.passwordHistory;
  if (count === 0) return;
  const current = await deps.db
    .selectFrom('users')
    .select('password_hash')
    .where('id', '=', userId)
    .executeTakeFirst();
  const earlier = await deps.db
    .selectFrom('password_history')
    .select('password_hash')
    .where('user_id', '=', userId)
    .orderBy('id', 'desc')
    .limit(Math.max(count - 1, 0))
    .execute();
  const recent = [current?.password_hash, ...earlier.map((row) => row.password_hash)].filter(
    (hash): hash is string => typeof hash === 'string',
  );
  for (const hash of recent.slice(0, count)) {
    if (await deps.passwords.verify(hash, password))
      throw badRequest(passwordHistoryMessage(count)).because('password-reused');
  }
}

/**
 * Before a user's password is replaced (in the same transaction): keep the hash being replaced
 * and forget any beyond what the setting needs, so no more old hashes are kept than it asks for.
 */
export async function rememberReplacedPassword(
  deps: Pick<Deps, 'config'>,
  db: Db,
  userId: string,
  now: number,
): Promise<void> {
  const keep = Math.max(deps.config.passwordHistory - 1, 0);
  if (keep > 0) {
    const current = await db
      .selectFrom('users')
      .select('password_hash')
      .where('id', '=', userId)
      .executeTakeFirst();
    if (current?.password_hash) {
      await db
        .insertInto('password_history')
        .values({ user_id: userId, password_hash: current.password_hash, replaced_at: now })
        .execute();
    }
  }
  let prune = db.deleteFrom('password_history').where('user_id', '=', userId);
  if (keep > 0) {
    const kept = await db
      .selectFrom('password_history')
      .select('id')
      .where('user_id', '=', userId)
      .orderBy('id', 'desc')
      .limit(keep)
      .execute();
    const oldestKept = kept[keep - 1]?.id;
    if (oldestKept === undefined) return;
    prune = prune.where('id', '<', oldestKept);
  }
  await prune.execute();
}
