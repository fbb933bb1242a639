import { FAILURE_EVENT_TYPES } from '../events/events.js';
import { deleteExpiredPasskeyChallenges } from '../factors/passkeys/passkeys.js';
import { SOURCE_WINDOW_MS } from '../lockout/source-failures.js';
import type { Deps } from '../services/deps.js';

const DAY_MS = 24 * 60 * 60_000;

/**
 * Periodic clean-up: expired tokens and sessions, old SMS send records, events past retention,
 * per-source failure windows that have ended.
 */
export async function pruneExpired(deps: Deps): Promise<void> {
  const now = deps.clock.now();
  await deps.db
    .deleteFrom('tokens')
    .where('expires_at', '<', now - DAY_MS)
    .execute();
  await deps.db
    .deleteFrom('mfa_sessions')
    .where('expires_at', '<', now - DAY_MS)
    .execute();
  await deps.db.deleteFrom('one_time_codes').where('expires_at', '<', now).execute();
  await deleteExpiredPasskeyChallenges(deps.db, now);
  await deps.db
    .deleteFrom('sms_sends')
    .where('sent_at', '<', now - 2 * DAY_MS)
    .execute();
  await deps.db
    .deleteFrom('security_events')
    .where('at', '<', now - deps.config.eventsRetentionDays * DAY_MS)
    .execute();
  // Failed logins and rate-limit refusals can be caused by anyone: their own, shorter retention.
  await deps.db
    .deleteFrom('security_events')
    .where('type', 'in', [...FAILURE_EVENT_TYPES])
    .where('at', '<', now - deps.config.failureEventsRetentionDays * DAY_MS)
    .execute();
  await deps.counters.prune(now - SOURCE_WINDOW_MS);
}
