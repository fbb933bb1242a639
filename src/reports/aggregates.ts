import { sql } from 'kysely';
import { type Acting, authorize } from '../access/caller.js';
import type { EventType } from '../events/events.js';
import type { Deps } from '../services/deps.js';
import type { UserView } from '../store/schema.js';

/** Events that mean someone got in: a token issued, or a bypass code spent on step 2. */
const SIGN_IN_TYPES: readonly EventType[] = ['login.succeeded', 'bypass_code.used'];

/**
 * The last time each user signed in, as far as the event log remembers (events older than the
 * retention period are pruned). Part of the user's record, so the caller must be allowed to view
 * each user asked about; users without a remembered sign-in are absent from the map.
 */
export async function lastSignInsFor(
  deps: Deps,
  caller: Acting,
  users: readonly UserView[],
): Promise<Map<string, number>> {
  for (const target of users) authorize(caller, { kind: 'user.view', target });
  if (users.length === 0) return new Map();
  const rows = await deps.db
    .selectFrom('security_events')
    .select(['user_id', (eb) => eb.fn.max<number>('at').as('last')])
    .where(
      'user_id',
      'in',
      users.map((user) => user.id),
    )
    .where('type', 'in', SIGN_IN_TYPES)
    .groupBy('user_id')
    .execute();
  const last = new Map<string, number>();
  for (const row of rows) if (row.user_id !== null) last.set(row.user_id, Number(row.last));
  return last;
}

export const HOUR_MS = 60 * 60_000;

export interface HourlyCount {
  /** Start of the hour, epoch milliseconds (UTC hours). */
  start: number;
  count: number;
}

/**
 * Failed sign-ins of an account per clock hour, oldest first: the current hour and the `hours - 1`
 * before it, each present (zero when quiet). A failed sign-in is a refused password step or a
 * wrong passcode; the password step that only finds out a user must first set up MFA is not a
 * failure (the panel asks again for the setup scope), so it is left out.
 */
export async function failedSignInsByHour(
  deps: Deps,
  caller: Acting,
  domainId: string,
  hours = 24,
): Promise<HourlyCount[]> {
  authorize(caller, { kind: 'events.read', domainId });
  const first = Math.floor(deps.clock.now() / HOUR_MS) * HOUR_MS - (hours - 1) * HOUR_MS;
  // Integer division in both dialects: `at` is an integer column (int8 on PostgreSQL). Literals,
  // not parameters, so PostgreSQL sees the same expression in the select and the group by.
  const bucket = sql<number>`(at - ${sql.lit(first)}) / ${sql.lit(HOUR_MS)}`;
  const rows = await deps.db
    .selectFrom('security_events')
    // Repeated failures are one row with a count (recordRepeatedEvent): add the counts up.
    .select([bucket.as('bucket'), (eb) => eb.fn.sum<number>('count').as('count')])
    .where('domain_id', '=', domainId)
    .where('at', '>=', first)
    .where((eb) =>
      eb.or([
        // The wrong passcode that locks is recorded as the lock itself.
        eb('type', 'in', ['login.passcode_failed', 'mfa.locked']),
        eb.and([
          eb('type', '=', 'login.failed'),
          // recordEvent writes detail with JSON.stringify, so this text is exact.
          eb('detail', 'not like', '%"reason":"mfa setup required"%'),
        ]),
      ]),
    )
    .groupBy(bucket)
    .execute();
  const counts = Array.from({ length: hours }, (_, index) => ({ start: first + index * HOUR_MS, count: 0 }));
  for (const row of rows) {
    const slot = counts[Number(row.bucket)];
    if (slot) slot.count += Number(row.count);
  }
  return counts;
}
