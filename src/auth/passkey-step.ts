import type { AuthenticationResponseJSON } from '@simplewebauthn/server';
import type { AuthMethod } from '../access/tokens.js';
import { ApiError, badRequest, forbidden, Messages, unauthorized, userDisabled } from '../core/errors.js';
import type { FactorType } from '../core/factor-type.js';
import { type EventType, isFailureEvent, recordEvent, recordRepeatedEvent } from '../events/events.js';
import { checkPasskeyAssertion, PasskeyMessages } from '../factors/passkeys/passkeys.js';
import { findUserById } from '../identity/users.js';
import {
  reservePasscodeAttempt,
  resetPasscodeAttempts,
  resetPasscodeAttemptsUnlessLocked,
} from '../lockout/attempts.js';
import { locksOf } from '../lockout/locks.js';
import type { Deps } from '../services/deps.js';
import type { Db, UserRow } from '../store/schema.js';
import { findMfaSession } from './mfa-session.js';

/** What a refused passkey answer reads on every surface; the event log keeps the reason. */
export const PASSKEY_REFUSED = PasskeyMessages.refused;

/**
 * The passcode factor that stands in for a passkey where no browser can sign (the API, a step
 * 2 that asks for a code): the user's authenticator app, else the phone, else only bypass and
 * temporary codes, which an authenticator challenge accepts too.
 */
export async function passcodeFallback(
  db: Db,
  userId: string,
): Promise<{ factor: FactorType; device: boolean }> {
  const otp = await db
    .selectFrom('otp_devices')
    .select('id')
    .where('user_id', '=', userId)
    .where('verified', '=', 1)
    .executeTakeFirst();
  if (otp) return { factor: 'OTP', device: true };
  const phone = await db
    .selectFrom('mobile_phones')
    .select('id')
    .where('user_id', '=', userId)
    .where('verified', '=', 1)
    .executeTakeFirst();
  if (phone) return { factor: 'SMS', device: true };
  return { factor: 'OTP', device: false };
}

function audit(
  deps: Deps,
  source: string | null,
  user: Pick<UserRow, 'id' | 'domain_id'>,
  type: EventType,
  detail: Record<string, string | number | boolean>,
): Promise<void> {
  const event = { type, actorId: user.id, userId: user.id, domainId: user.domain_id, source, detail };
  return isFailureEvent(type)
    ? recordRepeatedEvent(deps.db, deps.clock.now(), { ...event, subject: user.id })
    : recordEvent(deps.db, deps.clock.now(), event);
}

/**
 * A refused ceremony counts as a wrong passcode: the same counter, the same lock. `attempt` is
 * the count already reserved for it.
 */
async function countRefusal(
  deps: Deps,
  source: string | null,
  user: Pick<UserRow, 'id' | 'domain_id'>,
  attempt: number,
  reason: string,
): Promise<never> {
  if (attempt >= deps.config.lockoutThreshold) {
    deps.metrics.lockout('mfa');
    await audit(deps, source, user, 'mfa.locked', {
      lock: 'passcode',
      failedAttempts: attempt,
      lockSeconds: deps.config.lockoutSeconds,
    });
    throw new ApiError(403, 'forbidden', Messages.locked).because('locked');
  }
  await audit(deps, source, user, 'login.passcode_failed', {
    method: 'PASSKEY',
    reason,
    failedAttempts: attempt,
  });
  throw unauthorized(PASSKEY_REFUSED).because('passkey-refused');
}

/** Step 2 with a passkey: the OS-MF session of the password step, then the user's own passkey. */
export async function authenticatePasskeyStep(
  deps: Deps,
  source: string | null,
  sessionIds: string[],
  response: AuthenticationResponseJSON,
): Promise<{ user: UserRow; methods: AuthMethod[]; sessionHash: string }> {
  const [sessionId] = sessionIds;
  if (sessionIds.length !== 1 || sessionId === undefined) throw badRequest(Messages.invalidSessionId);
  const session = await findMfaSession(deps, sessionId);
  if (session.state === 'unknown') throw unauthorized(Messages.sessionRejected).because('session-rejected');
  if (session.state === 'expired') throw unauthorized(Messages.sessionExpired).because('session-expired');
  const user = await findUserById(deps.db, session.userId);
  if (!user) throw unauthorized(Messages.sessionRejected).because('session-rejected');
  if (!user.enabled) throw userDisabled(user.username);
  if (!user.mfa_enabled) throw badRequest(Messages.passcodeWithoutMfa);
  const attempt = await reservePasscodeAttempt(deps, user.id);
  if (attempt === undefined) {
    await audit(deps, source, user, 'login.passcode_failed', { method: 'PASSKEY', reason: 'locked' });
    throw new ApiError(403, 'forbidden', Messages.locked).because('locked');
  }
  const check = await checkPasskeyAssertion(deps, user, response, source);
  if (!check.ok) return countRefusal(deps, source, user, attempt, check.reason);
  await resetPasscodeAttempts(deps.db, user.id);
  return { user, methods: ['PASSKEY', ...session.done], sessionHash: session.hash };
}

/**
 * A sign-in with a passkey alone: a discoverable credential with user verification names its
 * user. A refusal whose credential names a user counts toward that user's lock; a locked user
 * is refused even with a good passkey; a good one starts the count of failures afresh, as a good
 * second factor does. The user and the account's policy come with the credential, for the
 * policy decision that follows.
 */
export async function authenticatePasskeyAlone(
  deps: Deps,
  source: string | null,
  response: AuthenticationResponseJSON,
): Promise<{
  user: UserRow;
  methods: AuthMethod[];
  domainLevel: string | null;
  domainPasskeysOnly: boolean;
}> {
  const check = await checkPasskeyAssertion(deps, null, response, source);
  if (!check.ok) {
    const owner = check.owner?.user;
    if (!owner) throw unauthorized(PASSKEY_REFUSED).because('passkey-refused');
    const attempt = await reservePasscodeAttempt(deps, owner.id);
    if (attempt === undefined) throw new ApiError(403, 'forbidden', Messages.locked).because('locked');
    return countRefusal(deps, source, owner, attempt, check.reason);
  }
  const { user, domainLevel, domainPasskeysOnly } = check.owner;
  if (!user.enabled) throw userDisabled(user.username);
  // Read with the credential: a lock already on refuses at once; failures since are judged by
  // the guarded reset, which leaves a lock reached meanwhile in place. Nothing to reset: no write.
  const locked =
    locksOf(deps, user).passcode !== undefined ||
    (user.mfa_failed_count > 0 && !(await resetPasscodeAttemptsUnlessLocked(deps, user.id)));
  if (locked) {
    await audit(deps, source, user, 'login.failed', { method: 'PASSKEY', reason: 'mfa locked' });
    throw forbidden(Messages.locked).because('locked');
  }
  return { user, methods: ['PASSKEY'], domainLevel, domainPasskeysOnly };
}
