import { randomDigits } from '../../crypto/random.js';
import type { Deps } from '../../deps.js';
import { badRequest } from '../../errors.js';
import { consumeOneTimeCode, deleteOneTimeCodes, storeOneTimeCode } from '../one-time-codes.js';
import { deliverSms } from './delivery.js';

/** Seeds: a 7-digit passcode, valid 10 minutes. */
export const SMS_PASSCODE_DIGITS = 7;
export const SMS_PASSCODE_TTL_MS = 10 * 60_000;

export function loginPasscodeText(code: string): string {
  return `Latchkey passcode (expires in 10 minutes): ${code}`;
}

/**
 * Step 1 of an SMS login. The code is stored before it is sent (so it exists when the user
 * types it) and removed again if the provider fails, leaving nothing half-done.
 */
export async function sendLoginPasscode(deps: Deps, userId: string): Promise<void> {
  const phone = await deps.db
    .selectFrom('mobile_phones')
    .select('number')
    .where('user_id', '=', userId)
    .where('verified', '=', 1)
    .executeTakeFirst();
  if (!phone) throw badRequest("User doesn't have a verified phone.");
  const code = randomDigits(SMS_PASSCODE_DIGITS);
  await storeOneTimeCode(deps, deps.db, userId, 'sms-login', code, deps.clock.now() + SMS_PASSCODE_TTL_MS);
  try {
    await deliverSms(deps, userId, phone.number, loginPasscodeText(code));
  } catch (error) {
    await deleteOneTimeCodes(deps.db, userId, 'sms-login');
    throw error;
  }
}

export function consumeLoginPasscode(deps: Deps, userId: string, code: string): Promise<boolean> {
  if (!/^\d{7}$/.test(code)) return Promise.resolve(false);
  return consumeOneTimeCode(deps, userId, 'sms-login', code);
}
