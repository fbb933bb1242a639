import type { Kysely } from 'kysely';
import type { Database } from '../store/schema.js';

/** Security event types (API.md "Audit"). Details never hold a secret. */
export type EventType =
  | 'login.succeeded'
  | 'login.failed'
  | 'login.challenged'
  | 'login.passcode_failed'
  | 'mfa.locked'
  | 'mfa.unlocked'
  | 'mfa.enabled'
  | 'mfa.disabled'
  | 'mfa.removed'
  | 'mfa.factor_changed'
  | 'mfa.user_enforcement_changed'
  | 'device.added'
  | 'device.verified'
  | 'device.removed'
  | 'bypass_codes.generated'
  | 'bypass_code.used'
  | 'temporary_code.sent'
  | 'domain.enforcement_changed'
  | 'tokens.revoked'
  | 'user.created'
  | 'user.updated'
  | 'user.deleted'
  | 'password.changed'
  | 'api_key.reset'
  | 'api_key.deleted';

export interface SecurityEvent {
  type: EventType;
  actorId?: string | null;
  userId?: string | null;
  domainId?: string | null;
  source?: string | null;
  detail?: Record<string, string | number | boolean | null | string[]>;
}

/**
 * Written with the same connection (transaction) as the change it records, so an event exists
 * exactly when its change does.
 */
export async function recordEvent(db: Kysely<Database>, at: number, event: SecurityEvent): Promise<void> {
  await db
    .insertInto('security_events')
    .values({
      at,
      type: event.type,
      actor_id: event.actorId ?? null,
      user_id: event.userId ?? null,
      domain_id: event.domainId ?? null,
      source: event.source ?? null,
      detail: JSON.stringify(event.detail ?? {}),
    })
    .execute();
}
