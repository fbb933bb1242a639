import { createHash } from 'node:crypto';
import { type Kysely, sql } from 'kysely';
import type { Database } from '../store/schema.js';

/** Security event types (API.md "Audit"). Details never hold a secret. */
export type EventType =
  | 'login.succeeded'
  | 'login.failed'
  | 'login.challenged'
  | 'login.passcode_failed'
  | 'login.rate_limited'
  | 'sms.rate_limited'
  | 'password.locked'
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
  | 'passkey.registered'
  | 'passkey.used'
  | 'passkey.renamed'
  | 'passkey.deleted'
  | 'passkey.refused'
  | 'bypass_codes.generated'
  | 'bypass_code.used'
  | 'temporary_code.sent'
  | 'temporary_code.used'
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

/**
 * Events that an attacker can cause at will (failed logins, refusals by a rate limit). They are
 * recorded through recordRepeatedEvent and kept for their own, shorter retention.
 */
export const FAILURE_EVENT_TYPES = [
  'login.failed',
  'login.passcode_failed',
  'login.rate_limited',
  'sms.rate_limited',
  'passkey.refused',
] as const satisfies readonly EventType[];

export function isFailureEvent(type: EventType): boolean {
  return (FAILURE_EVENT_TYPES as readonly EventType[]).includes(type);
}

const MINUTE_MS = 60_000;

/**
 * A repeatable event: the same type from the same source about the same subject, with the same
 * detail, within one minute updates one row and counts up, so a flood of failures costs one row a minute, not one
 * row a request. `subject` tells apart what an administrator would want apart (the user tried,
 * or the keyed hash of an unknown name).
 */
export async function recordRepeatedEvent(
  db: Kysely<Database>,
  at: number,
  event: SecurityEvent & { subject: string },
): Promise<void> {
  const minute = Math.floor(at / MINUTE_MS);
  const aggregateKey = createHash('sha256')
    .update(
      [event.type, event.source ?? '', event.subject, minute, JSON.stringify(event.detail ?? {})].join(
        '\u0000',
      ),
    )
    .digest('hex');
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
      aggregate_key: aggregateKey,
    })
    .onConflict((conflict) =>
      conflict.column('aggregate_key').doUpdateSet({ count: sql<number>`security_events.count + 1` }),
    )
    .execute();
}
