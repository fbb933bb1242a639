import { badRequest } from '../../core/errors.js';
import { randomDigits } from '../../crypto/random.js';
import type { Deps } from '../../services/deps.js';
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

/**
 * "Resend code" on a pending sign-in: a new passcode replaces the one sent before. If the new one
 * cannot be sent (limits, country, provider), the one sent before is put back as it was, so a
 * refused resend changes nothing and the text already received still works.
 */
export async function resendLoginPasscode(deps: Deps, userId: string, sessionHash: string): Promise<string> {
  const previous = await deps.db
    .selectFrom('one_time_codes')
    .selectAll()
    .where('user_id', '=', userId)
    .where('purpose', '=', 'sms-login')
    .executeTakeFirst();
  try {
    return await sendLoginPasscode(deps, userId, sessionHash);
  } catch (error) {
    if (previous) {
      try {
        await deps.db.insertInto('one_time_codes').values(previous).execute();
      } catch {
        // A concurrent send stored a newer code meanwhile: that one stands.
      }
    }
    throw error;
  }
}
