import type { Deps } from '../services/deps.js';
import type { UserView } from '../store/schema.js';

/**
 * The two locks a user can be under, each kept by its own counter:
 * - `password`: consecutive wrong passwords (password-attempts.ts) lock the password login;
 * - `passcode`: consecutive wrong passcodes at step 2 (attempts.ts) lock the MFA login.
 * Every surface (API user object, login, panel, CLI through the API) asks `locksOf` whether one
 * is on, so they cannot disagree about a user or about the moment a lock lifts.
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

function passcodeLock(
  deps: Deps,
  user: Pick<LockCounters, 'mfa_failed_count' | 'mfa_last_failed_at'>,
): Lock | undefined {
  const rule = { threshold: deps.config.lockoutThreshold, seconds: deps.config.lockoutSeconds };
  return lockFrom('passcode', rule, user.mfa_failed_count, user.mfa_last_failed_at, deps.clock.now());
}

function passwordLock(
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

/** The locks in force on a user now (the injected clock's now), by kind. */
export interface UserLocks {
  /** Wrong passwords: the password login is refused (RAX-AUTH:passwordLockedUntil). */
  password: Lock | undefined;
  /** Wrong passcodes: the MFA login is refused (RAX-AUTH:multiFactorState LOCKED). */
  passcode: Lock | undefined;
  /** Both of the above that are on, the password lock first, as a login meets them. */
  inForce: Lock[];
}

/** The one answer to "is this user locked, and how": what every surface shows and login obeys. */
export function locksOf(deps: Deps, user: LockCounters): UserLocks {
  const password = passwordLock(deps, user);
  const passcode = passcodeLock(deps, user);
  return {
    password,
    passcode,
    inForce: [password, passcode].filter((lock): lock is Lock => lock !== undefined),
  };
}
