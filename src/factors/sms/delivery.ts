import { parsePhoneNumberFromString } from 'libphonenumber-js/max';
import { ApiError, badRequest, serviceUnavailable } from '../../core/errors.js';
import { recordRepeatedEvent } from '../../events/events.js';
import { SmsDeliveryError } from '../../notify/sms-sender.js';
import type { Deps } from '../../services/deps.js';

const MINUTE = 60_000;

export const COUNTRY_NOT_ALLOWED = 'Text messages to this country are not allowed.';
export const TOO_MANY_MESSAGES = 'Too many text messages. Try again later.';
export const NOT_SENT = 'The text message could not be sent. Try again later.';

interface Limit {
  window: number;
  max: number;
  column: 'destination' | 'user_id';
  value: string;
}

/** A toll-fraud limit refused the message: 429 with Retry-After, unless the caller has a way on. */
export class SmsLimitReached extends ApiError {
  constructor(readonly retryAfterSeconds: number) {
    super(429, 'overLimit', TOO_MANY_MESSAGES, { 'Retry-After': String(Math.max(1, retryAfterSeconds)) });
  }
}

/**
 * Which allowance a message is counted against. Administrators' temporary codes have their own,
 * so a flood of login steps (or an attacker's) cannot use up the one way back in for a user who
 * lost the phone.
 */
export type SmsBudget = 'default' | 'temporary';

/** The country allow-list (LATCHKEY_SMS_ALLOWED_COUNTRIES; empty = every country). */
export function assertCountryAllowed(deps: Deps, e164: string): void {
  const allowed = deps.config.sms.allowedCountries;
  if (allowed.length === 0) return;
  const country = parsePhoneNumberFromString(e164)?.country;
  if (!country || !allowed.includes(country))
    throw badRequest(COUNTRY_NOT_ALLOWED).because('country-not-allowed');
}

/**
 * Send one text message within the toll-fraud limits (API.md "SMS sending"): the country
 * allow-list, then per-number and per-user rates. The send is recorded *before* the count, so
 * concurrent senders see each other and the limit holds; a refused or failed send is taken back.
 */
export async function deliverSms(
  deps: Deps,
  userId: string,
  to: string,
  body: string,
  budget: SmsBudget = 'default',
): Promise<void> {
  const { sms } = deps.config;
  assertCountryAllowed(deps, to);
  const now = deps.clock.now();
  const limits: Limit[] =
    budget === 'temporary'
      ? [{ window: 60 * MINUTE, max: sms.maxTemporaryCodesPerUserHour, column: 'user_id', value: userId }]
      : [
          { window: 10 * MINUTE, max: sms.maxPerNumber10Min, column: 'destination', value: to },
          { window: 24 * 60 * MINUTE, max: sms.maxPerNumberDay, column: 'destination', value: to },
          { window: 60 * MINUTE, max: sms.maxPerUserHour, column: 'user_id', value: userId },
        ];
  const inserted = await deps.db
    .insertInto('sms_sends')
    .values({ user_id: userId, destination: to, sent_at: now, budget })
    .returning('id')
    .executeTakeFirstOrThrow();
  const takeBack = () => deps.db.deleteFrom('sms_sends').where('id', '=', inserted.id).execute();
  // Every limit is evaluated: Retry-After must name the moment *all* of them allow a send again,
  // not just the first one found over (a full day window outlasts a full 10-minute one).
  let retryAfterMs: number | undefined;
  for (const limit of limits) {
    const rows = await deps.db
      .selectFrom('sms_sends')
      .select('sent_at')
      .where(limit.column, '=', limit.value)
      .where('budget', '=', budget)
      .where('sent_at', '>', now - limit.window)
      .orderBy('sent_at', 'desc')
      .orderBy('id', 'desc')
      .limit(limit.max + 1)
      .execute();
    if (rows.length > limit.max) {
      // Rows are newest first and this send (the newest id at `now`) is rows[0], so rows[max] is
      // the max-th newest *earlier* send; the window frees a slot when it ages out.
      const blocking = rows[limit.max]?.sent_at ?? now;
      retryAfterMs = Math.max(retryAfterMs ?? 0, blocking + limit.window - now);
    }
  }
  if (retryAfterMs !== undefined) {
    await takeBack();
    await recordRepeatedEvent(deps.db, now, {
      type: 'sms.rate_limited',
      subject: `${userId}:${budget}`,
      userId,
      detail: { budget, retryAfterSeconds: Math.ceil(retryAfterMs / 1000) },
    });
    deps.metrics.throttled('sms_limit');
    throw new SmsLimitReached(Math.ceil(retryAfterMs / 1000));
  }
  try {
    await deps.sms.send({ to, body });
    deps.metrics.smsDelivery(deps.sms.name, 'sent');
  } catch (error) {
    deps.metrics.smsDelivery(deps.sms.name, 'failed');
    await takeBack();
    // Only the provider's name and a reason without the number or text reach the log.
    const reason = error instanceof SmsDeliveryError ? error.message : 'unexpected error';
    deps.log.warn({ provider: deps.sms.name, reason }, 'sms delivery failed');
    throw serviceUnavailable(NOT_SENT);
  }
}
