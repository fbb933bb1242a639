import type { Deps } from '../services/deps.js';
import type { UserView } from '../store/schema.js';

/**
 * The two locks a user can be under, each kept by its own counter:
 * - `password`: consecutive wrong passwords (password-attempts.ts) lock the password login;
 * - `passcode`: consecutive wrong passcodes at step 2 (attempts.ts) lock the MFA login.
 * Every surface (API user object, login, panel, CLI through the API) asks here whether one is on.
 */
export type LockKind = 'password' | 'passcode';

/** A lock in force. `until`: when it lifts by itself; null when only an unlock lifts it. */
export interface Lock {
  kind: LockKind;
  until: number | null;
}

type LockCounters = Pick<
  UserView,
  'mfa_failed_count' | 'mfa_last_failed_at' | 'password_failed_count' | 'password_last_failed_at'
>;

/**
 * One rule for both counters: locked from the threshold on, until `seconds` after the last
 * failure (0 seconds: until unlocked). A threshold of 0 turns counting off.
 */
function lockFrom(
  kind: LockKind,
  rule: { threshold: number; seconds: number },
  failedCount: number,
  lastFailedAt: number | null,
  now: number,
): Lock | undefined {
  if (rule.threshold === 0 || failedCount < rule.threshold) return undefined;
  if (rule.seconds === 0 || lastFailedAt === null) return { kind, until: null };
  const until = lastFailedAt + rule.seconds * 1000;
  return now < until ? { kind, until } : undefined;
}

export function passcodeLock(
  deps: Deps,
  user: Pick<LockCounters, 'mfa_failed_count' | 'mfa_last_failed_at'>,
): Lock | undefined {
  const rule = { threshold: deps.config.lockoutThreshold, seconds: deps.config.lockoutSeconds };
  return lockFrom('passcode', rule, user.mfa_failed_count, user.mfa_last_failed_at, deps.clock.now());
}

export function passwordLock(
  deps: Deps,
  user: Pick<LockCounters, 'password_failed_count' | 'password_last_failed_at'>,
): Lock | undefined {
  const { attempts: threshold, seconds } = deps.config.passwordLockout;
  return lockFrom(
    'password',
    { threshold, seconds },
    user.password_failed_count,
    user.password_last_failed_at,
    deps.clock.now(),
  );
}

/** Every lock in force on the user: the password lock first, as a login meets them. */
export function locksOf(deps: Deps, user: LockCounters): Lock[] {
  return [passwordLock(deps, user), passcodeLock(deps, user)].filter(
    (lock): lock is Lock => lock !== undefined,
  );
}
