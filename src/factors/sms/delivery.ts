import { parsePhoneNumberFromString } from 'libphonenumber-js/max';
import type { Deps } from '../../deps.js';
import { badRequest, overLimit, serviceUnavailable } from '../../errors.js';
import { SmsDeliveryError } from '../../notify/sms-sender.js';

const MINUTE = 60_000;

interface Limit {
  window: number;
  max: number;
  column: 'destination' | 'user_id';
  value: string;
}

/**
 * Send one text message within the toll-fraud limits (API.md "SMS sending"): the country
 * allow-list, then per-number and per-user rates. The send is recorded *before* the count, so
 * concurrent senders see each other and the limit holds; a refused or failed send is taken back.
 */
export async function deliverSms(deps: Deps, userId: string, to: string, body: string): Promise<void> {
  const { sms } = deps.config;
  const country = parsePhoneNumberFromString(to)?.country;
  if (sms.allowedCountries.length > 0 && (!country || !sms.allowedCountries.includes(country))) {
    throw badRequest('Text messages to this country are not allowed.');
  }
  const now = deps.clock.now();
  const limits: Limit[] = [
    { window: 10 * MINUTE, max: sms.maxPerNumber10Min, column: 'destination', value: to },
    { window: 24 * 60 * MINUTE, max: sms.maxPerNumberDay, column: 'destination', value: to },
    { window: 60 * MINUTE, max: sms.maxPerUserHour, column: 'user_id', value: userId },
  ];
  const inserted = await deps.db
    .insertInto('sms_sends')
    .values({ user_id: userId, destination: to, sent_at: now })
    .returning('id')
    .executeTakeFirstOrThrow();
  const takeBack = () => deps.db.deleteFrom('sms_sends').where('id', '=', inserted.id).execute();
  for (const limit of limits) {
    const rows = await deps.db
      .selectFrom('sms_sends')
      .select('sent_at')
      .where(limit.column, '=', limit.value)
      .where('sent_at', '>', now - limit.window)
      .orderBy('sent_at', 'desc')
      .orderBy('id', 'desc')
      .limit(limit.max + 1)
      .execute();
    if (rows.length > limit.max) {
      await takeBack();
      // The window frees a slot when the max-th newest send (other than this one) ages out.
      const blocking = rows[limit.max]?.sent_at ?? now;
      throw overLimit('Too many text messages. Try again later.', (blocking + limit.window - now) / 1000);
    }
  }
  try {
    await deps.sms.send({ to, body });
  } catch (error) {
    await takeBack();
    const reason = error instanceof SmsDeliveryError ? error.message : 'unexpected error';
    deps.log.warn({ provider: deps.sms.name, reason }, 'sms delivery failed');
    throw serviceUnavailable('The text message could not be sent. Try again later.');
  }
}
