import { type Acting, AuthorizationMessages, authorize } from '../access/caller.js';
import { badRequest, notFound } from '../core/errors.js';
import { randomDigits } from '../crypto/random.js';
import { recordEvent } from '../events/events.js';
import { findUserById } from '../identity/users.js';
import { locksOf } from '../lockout/locks.js';
import type { Deps } from '../services/deps.js';
import type { UserView } from '../store/schema.js';
import { findVerifiedPhone, maskPhoneNumber } from './sms/phones.js';
import { sendOneTimeCodeBySms } from './sms/send-code.js';

/**
 * The seeds' "Send Temporary Code" (API.md "Temporary code (ours)"): 8 digits, valid 5 minutes
 * ([SEED-MR]), entered as the passcode of step 2 like a bypass code. One live code per user: a
 * new one replaces the last.
 */
export const TEMPORARY_CODE_DIGITS = 8;
export const TEMPORARY_CODE_TTL_MS = 5 * 60_000;

export const TemporaryCodeMessages = {
  self: AuthorizationMessages.ownTemporaryCode,
  noVerifiedPhone: 'The user has no verified mobile phone to send a temporary code to.',
  locked: 'Multi-factor login of this user is locked. Unlock it before sending a temporary code.',
} as const;

export function temporaryCodeText(code: string): string {
  return `Latchkey temporary passcode (expires in 5 minutes): ${code}`;
}

export interface TemporaryCodeSent {
  sentTo: string;
  expiresAt: number;
}

/**
 * Why no temporary code can be sent to `user` now (its passcode lock, or no verified phone), or
 * undefined when one can. The one rule for both sending and offering to send: the panel offers
 * Send Temporary Code only where this finds nothing.
 */
export async function temporaryCodeRefusal(
  deps: Deps,
  user: UserView,
): Promise<(typeof TemporaryCodeMessages)['locked' | 'noVerifiedPhone'] | undefined> {
  // A temporary code must not become a way around the lock: an administrator unlocks first.
  if (locksOf(deps, user).passcode) return TemporaryCodeMessages.locked;
  if (!(await findVerifiedPhone(deps.db, user.id))) return TemporaryCodeMessages.noVerifiedPhone;
  return undefined;
}

/**
 * Sent by someone with precedence over the user (the caller's rights on the target are checked
 * by the route), never by the user itself: a code one can send oneself is no second factor.
 */
export async function sendTemporaryCode(
  deps: Deps,
  caller: Acting & { source: string | null },
  target: UserView,
): Promise<TemporaryCodeSent> {
  authorize(caller, { kind: 'mfa.send-temporary-code', target });
  // Read again: the lock state may have changed since the route looked the user up.
  const user = await findUserById(deps.db, target.id);
  if (!user) throw notFound(`User ${target.id} not found`);
  const refusal = await temporaryCodeRefusal(deps, user);
  if (refusal) throw badRequest(refusal);
  const phone = await findVerifiedPhone(deps.db, user.id);
  if (!phone) throw badRequest(TemporaryCodeMessages.noVerifiedPhone);
  const code = randomDigits(TEMPORARY_CODE_DIGITS);
  const now = deps.clock.now();
  const expiresAt = now + TEMPORARY_CODE_TTL_MS;
  await sendOneTimeCodeBySms(deps, {
    userId: user.id,
    to: phone.number,
    purpose: 'temporary',
    code,
    expiresAt,
    text: temporaryCodeText(code),
    budget: 'temporary',
  });
  const sentTo = maskPhoneNumber(phone.number);
  await recordEvent(deps.db, now, {
    type: 'temporary_code.sent',
    actorId: caller.user.id,
    userId: user.id,
    domainId: user.domain_id,
    source: caller.source,
    detail: { sentTo, expires: new Date(expiresAt).toISOString() },
  });
  return { sentTo, expiresAt };
}
