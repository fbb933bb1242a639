import { constantEquals } from '../crypto/constant-equals.js';
import type { Deps } from '../services/deps.js';
import type { Db } from '../store/schema.js';

/** SMS login passcodes and admin temporary codes: at most one live code per user and purpose. */
export type CodePurpose = 'sms-login' | 'temporary';

/**
 * The keyed hash a code is stored as. A `binding` (an SMS passcode's OS-MF session) is part of
 * the hash, so the code matches only when presented with that same binding.
 */
function codeHash(deps: Deps, userId: string, purpose: CodePurpose, code: string, binding: string): string {
  return deps.keys.hashFor(binding === '' ? `${purpose}:${userId}` : `${purpose}:${userId}:${binding}`, code);
}

export async function storeOneTimeCode(
  deps: Deps,
  db: Db,
  userId: string,
  purpose: CodePurpose,
  code: string,
  expiresAt: number,
  binding = '',
): Promise<void> {
  const now = deps.clock.now();
  // A new code replaces the previous one (a new step 1 voids the earlier SMS passcode).
  await db
    .deleteFrom('one_time_codes')
    .where('user_id', '=', userId)
    .where('purpose', '=', purpose)
    .execute();
  await db
    .insertInto('one_time_codes')
    .values({
      user_id: userId,
      purpose,
      code_hash: codeHash(deps, userId, purpose, code, binding),
      expires_at: expiresAt,
      created_at: now,
    })
    .execute();
}

/**
 * Accept the code once: compared in constant time, then deleted with a guard on its hash so
 * two concurrent submissions of the same code cannot both succeed.
 */
export async function consumeOneTimeCode(
  deps: Deps,
  userId: string,
  purpose: CodePurpose,
  code: string,
  binding = '',
): Promise<boolean> {
  const now = deps.clock.now();
  const row = await deps.db
    .selectFrom('one_time_codes')
    .select(['code_hash', 'expires_at'])
    .where('user_id', '=', userId)
    .where('purpose', '=', purpose)
    .executeTakeFirst();
  if (!row || row.expires_at <= now) return false;
  if (!constantEquals(codeHash(deps, userId, purpose, code, binding), row.code_hash)) return false;
  const result = await deps.db
    .deleteFrom('one_time_codes')
    .where('user_id', '=', userId)
    .where('purpose', '=', purpose)
    .where('code_hash', '=', row.code_hash)
    .executeTakeFirst();
  return Number(result.numDeletedRows) === 1;
}

export async function deleteOneTimeCodes(db: Db, userId: string, purpose?: CodePurpose): Promise<void> {
  let query = db.deleteFrom('one_time_codes').where('user_id', '=', userId);
  if (purpose) query = query.where('purpose', '=', purpose);
  await query.execute();
}
