import { constantEquals } from '../../crypto/constant-equals.js';
import type { Deps } from '../../services/deps.js';

export const BYPASS_CODE_DIGITS = 8;

const scopeOf = (userId: string) => `bypass:${userId}`;

export function bypassHash(deps: Deps, userId: string, code: string): string {
  return deps.keys.hashFor(scopeOf(userId), code);
}

/**
 * Use a bypass code once. Self-service codes may never expire: their hash key is the database's,
 * which key rotation re-seals but never changes (crypto/key-ring.ts). Every unused code of the
 * user is compared, in constant time; consumption is a guarded UPDATE (used_at IS NULL) so two
 * concurrent submissions of one code cannot both win.
 */
export async function consumeBypassCode(deps: Deps, userId: string, code: string): Promise<boolean> {
  if (!/^\d{8}$/.test(code)) return false;
  const now = deps.clock.now();
  const hash = bypassHash(deps, userId, code);
  const rows = await deps.db
    .selectFrom('bypass_codes')
    .select(['id', 'code_hash', 'expires_at'])
    .where('user_id', '=', userId)
    .where('used_at', 'is', null)
    .execute();
  let match: number | undefined;
  for (const row of rows) {
    const live = row.expires_at === null || row.expires_at > now;
    const equal = constantEquals(hash, row.code_hash);
    if (equal && live && match === undefined) match = row.id;
  }
  if (match === undefined) return false;
  const result = await deps.db
    .updateTable('bypass_codes')
    .set({ used_at: now })
    .where('id', '=', match)
    .where('used_at', 'is', null)
    .executeTakeFirst();
  return Number(result.numUpdatedRows) === 1;
}
