import type { Deps } from '../../services/deps.js';
import { isUniqueViolation } from '../../store/dialect-differences.js';
import { type CodePurpose, consumeOneTimeCode, storeOneTimeCode } from '../one-time-codes.js';
import { deliverSms, type SmsBudget } from './delivery.js';

/**
 * Replace the user's live code of this purpose. storeOneTimeCode deletes, then inserts: two
 * concurrent senders can both delete and then collide on the (user, purpose) key. The loser
 * simply tries again, so the later request wins, as "a new code replaces the previous one" says.
 */
async function replaceCode(
  deps: Deps,
  userId: string,
  purpose: CodePurpose,
  code: string,
  expiresAt: number,
  binding: string,
): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    try {
      await storeOneTimeCode(deps, deps.db, userId, purpose, code, expiresAt, binding);
      return;
    } catch (error) {
      if (attempt >= 3 || !isUniqueViolation(error)) throw error;
    }
  }
}

/**
 * Store a one-time code, then text it. The code exists before the message leaves (so it works
 * the moment it arrives); if the message is refused (limits, country) or the provider fails, the
 * code is burnt again — only this code, matched by value, never one a concurrent request stored —
 * so nothing usable is left behind that nobody received.
 */
export async function sendOneTimeCodeBySms(
  deps: Deps,
  options: {
    userId: string;
    to: string;
    purpose: CodePurpose;
    code: string;
    expiresAt: number;
    text: string;
    /** What the code is bound to (an SMS passcode: its OS-MF session); see storeOneTimeCode. */
    binding?: string;
    budget?: SmsBudget;
  },
): Promise<void> {
  const { userId, to, purpose, code, expiresAt, text, binding = '', budget = 'default' } = options;
  await replaceCode(deps, userId, purpose, code, expiresAt, binding);
  try {
    await deliverSms(deps, userId, to, text, budget);
  } catch (error) {
    await consumeOneTimeCode(deps, userId, purpose, code, binding);
    throw error;
  }
}
