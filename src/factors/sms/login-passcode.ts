import { randomDigits } from '../../crypto/random.js';
import type { Deps } from '../../deps.js';
import { badRequest } from '../../errors.js';
import type { Db } from '../../store/schema.js';
import { consumeOneTimeCode, deleteOneTimeCodes } from '../one-time-codes.js';
import { findVerifiedPhone, maskPhoneNumber } from './phones.js';
import { sendOneTimeCodeBySms } from './send-code.js';

/** Seeds: a 7-digit passcode, valid 10 minutes. */
export const SMS_PASSCODE_DIGITS = 7;
export const SMS_PASSCODE_TTL_MS = 10 * 60_000;

/**
 * Said with the challenge when an SMS limit kept step 1 from texting a passcode: the session is
 * there all the same, so a bypass code or an administrator's temporary code still completes it.
 */
export const PASSCODE_NOT_SENT =
  'No new passcode was sent: too many text messages were sent to this phone recently. Use a bypass code or a temporary code from an administrator, or try again later.';

export function loginPasscodeText(code: string): string {
  return `Latchkey passcode (expires in 10 minutes): ${code}`;
}

/**
 * Step 1 of an SMS login. A new passcode replaces the previous one; if it cannot be sent (limits,
 * provider failure, timeout) it is burnt again, so no live code is left that nobody received.
 * The passcode is bound to the OS-MF session it was sent for (`sessionHash`): it opens that
 * session only.
 */
export async function sendLoginPasscode(deps: Deps, userId: string, sessionHash: string): Promise<string> {
  const phone = await findVerifiedPhone(deps.db, userId);
  if (!phone) throw badRequest("User doesn't have a verified phone.");
  const code = randomDigits(SMS_PASSCODE_DIGITS);
  await sendOneTimeCodeBySms(deps, {
    userId,
    to: phone.number,
    purpose: 'sms-login',
    code,
    expiresAt: deps.clock.now() + SMS_PASSCODE_TTL_MS,
    text: loginPasscodeText(code),
    binding: sessionHash,
  });
  return maskPhoneNumber(phone.number);
}

export function consumeLoginPasscode(
  deps: Deps,
  userId: string,
  code: string,
  sessionHash: string,
): Promise<boolean> {
  if (!/^\d{7}$/.test(code)) return Promise.resolve(false);
  return consumeOneTimeCode(deps, userId, 'sms-login', code, sessionHash);
}

/** Burn the pending login passcode (a factor switch: no code of the old factor may remain). */
export function burnLoginPasscodes(db: Db, userId: string): Promise<void> {
  return deleteOneTimeCodes(db, userId, 'sms-login');
}
