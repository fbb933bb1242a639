import { constantEquals } from '../../crypto/constant-equals.js';
import type { Deps } from '../../deps.js';

export const BYPASS_CODE_DIGITS = 8;

const scopeOf = (userId: string) => `bypass:${userId}`;

export function bypassHash(deps: Deps, userId: string, code: string): string {
  return deps.keys.hashFor(scopeOf(userId), code);
}

/**
 * The code's hash under every key of the ring, primary first. Self-service codes may never
 * expire, so they must survive a key rotation. (KeyRing.hashFor is hash(scope NUL value); the
 * bypass tests check that the first candidate equals bypassHash.)
 */
export function bypassHashCandidates(deps: Deps, userId: string, code: string): string[] {
  return deps.keys.hashCandidates(`${scopeOf(userId)}\u0000${code}`);
}

/**
 * Use a bypass code once. Candidates are compared in constant time; consumption is a guarded
 * UPDATE (used_at IS NULL) so two concurrent submissions of one code cannot both win.
 */
export async function consumeBypassCode(deps: Deps, userId: string, code: string): Promise<boolean> {
  if (!/^\d{8}$/.test(code)) return false;
  const now = deps.clock.now();
  const candidates = bypassHashCandidates(deps, userId, code);
  const rows = await deps.db
    .selectFrom('bypass_codes')
    .select(['id', 'code_hash', 'expires_at'])
    .where('user_id', '=', userId)
    .where('used_at', 'is', null)
    .execute();
  let match: number | undefined;
  for (const row of rows) {
    const live = row.expires_at === null || row.expires_at > now;
    let equal = false;
    for (const candidate of candidates) equal = constantEquals(candidate, row.code_hash) || equal;
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
