import type { Deps } from './deps.js';

const DAY_MS = 24 * 60 * 60_000;

/** Periodic clean-up: expired tokens and sessions, old SMS send records, events past retention. */
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
  await deps.db
    .deleteFrom('sms_sends')
    .where('sent_at', '<', now - 2 * DAY_MS)
    .execute();
  await deps.db
    .deleteFrom('security_events')
    .where('at', '<', now - deps.config.eventsRetentionDays * DAY_MS)
    .execute();
}
