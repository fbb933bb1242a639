import type { AuthMethod } from '../access/tokens.js';
import { randomUrlSafe } from '../crypto/random.js';
import type { LoginOtpDevice } from '../factors/totp/totp.js';
import type { FactorType } from '../policy/enforcement.js';
import type { Deps } from '../services/deps.js';
import type { Db, UserRow } from '../store/schema.js';

/**
 * The OS-MF session: what step 1 already proved, for 5 minutes, used at most once. It is not a
 * token (it lives in its own table), so it can never pass as X-Auth-Token.
 */
export function newMfaSessionId(): string {
  return randomUrlSafe(32);
}

/** How the session is stored and looked up; an SMS passcode is bound to it too. */
export function mfaSessionHash(deps: Deps, sessionId: string): string {
  return deps.keys.hash(sessionId);
}

export async function startMfaSession(
  deps: Deps,
  id: string,
  userId: string,
  factor: FactorType,
  done: AuthMethod[],
): Promise<void> {
  const now = deps.clock.now();
  await deps.db
    .insertInto('mfa_sessions')
    .values({
      hash: mfaSessionHash(deps, id),
      user_id: userId,
      factor,
      authenticated_by: done.join(','),
      created_at: now,
      expires_at: now + deps.config.mfaSessionTtlSeconds * 1000,
    })
    .execute();
  // Expired sessions are useless; sweep them opportunistically so the table stays small, at
  // most once a minute per process rather than on every login (housekeeping sweeps too).
  const lastSweep = lastSweeps.get(deps.db);
  if (lastSweep === undefined || now - lastSweep >= SWEEP_INTERVAL_MS || now < lastSweep) {
    lastSweeps.set(deps.db, now);
    await deps.db
      .deleteFrom('mfa_sessions')
      .where('expires_at', '<', now - 3_600_000)
      .execute();
  }
}

const SWEEP_INTERVAL_MS = 60_000;
/** When each database's expired sessions were last swept by this process. */
const lastSweeps = new WeakMap<object, number>();

export type SessionLookup =
  | { state: 'live'; hash: string; userId: string; factor: FactorType; done: AuthMethod[] }
  | { state: 'expired' }
  | { state: 'unknown' };

/**
 * The session with its user, the user's account's MFA level and the user's verified
 * authenticators, in one statement: all that the passcode step of a login reads. An authenticator
 * read here may be used or removed before its code is judged; acceptTotp's guarded update judges
 * on the stored row.
 */
export async function findMfaSessionWithUser(
  deps: Deps,
  sessionId: string,
): Promise<
  | { state: 'expired' }
  | { state: 'unknown' }
  | (Extract<SessionLookup, { state: 'live' }> & {
      user: UserRow;
      domainLevel: string | null;
      domainPasskeysOnly: boolean;
      otpDevices: LoginOtpDevice[];
    })
> {
  if (sessionId.length === 0 || sessionId.length > 512) return { state: 'unknown' };
  // One row per verified authenticator (at most five), or one row without any.
  const rows = await deps.db
    .selectFrom('mfa_sessions')
    .innerJoin('users', 'users.id', 'mfa_sessions.user_id')
    .leftJoin('domains', 'domains.id', 'users.domain_id')
    .leftJoin('otp_devices', (join) =>
      join.onRef('otp_devices.user_id', '=', 'users.id').on('otp_devices.verified', '=', 1),
    )
    .selectAll('users')
    .select([
      'mfa_sessions.hash as session_hash',
      'mfa_sessions.user_id as session_user_id',
      'mfa_sessions.factor as session_factor',
      'mfa_sessions.authenticated_by as session_authenticated_by',
      'mfa_sessions.expires_at as session_expires_at',
      'mfa_sessions.consumed_at as session_consumed_at',
      'domains.mfa_enforcement as domain_mfa_enforcement',
      'domains.passkeys_only as domain_passkeys_only',
      'otp_devices.id as otp_device_id',
      'otp_devices.secret_enc as otp_device_secret_enc',
      'otp_devices.last_used_step as otp_device_last_used_step',
    ])
    .where('mfa_sessions.hash', 'in', deps.keys.hashCandidates(sessionId))
    .execute();
  const [row] = rows;
  if (!row || row.session_consumed_at !== null) return { state: 'unknown' };
  if (row.session_expires_at <= deps.clock.now()) return { state: 'expired' };
  const {
    session_hash,
    session_user_id,
    session_factor,
    session_authenticated_by,
    session_expires_at: _expiresAt,
    session_consumed_at: _consumedAt,
    domain_mfa_enforcement,
    domain_passkeys_only,
    otp_device_id: _deviceId,
    otp_device_secret_enc: _secret,
    otp_device_last_used_step: _lastUsedStep,
    ...user
  } = row;
  const otpDevices: LoginOtpDevice[] = [];
  for (const device of rows) {
    if (device.otp_device_id === null || device.otp_device_secret_enc === null) continue;
    otpDevices.push({
      id: device.otp_device_id,
      secret_enc: device.otp_device_secret_enc,
      last_used_step: device.otp_device_last_used_step,
    });
  }
  return {
    state: 'live',
    hash: session_hash,
    userId: session_user_id,
    factor: session_factor as FactorType,
    done: session_authenticated_by.split(',') as AuthMethod[],
    user,
    domainLevel: domain_mfa_enforcement ?? null,
    domainPasskeysOnly: domain_passkeys_only === 1,
    otpDevices,
  };
}

export async function findMfaSession(deps: Deps, sessionId: string): Promise<SessionLookup> {
  if (sessionId.length === 0 || sessionId.length > 512) return { state: 'unknown' };
  const row = await deps.db
    .selectFrom('mfa_sessions')
    .selectAll()
    .where('hash', 'in', deps.keys.hashCandidates(sessionId))
    .executeTakeFirst();
  if (!row || row.consumed_at !== null) return { state: 'unknown' };
  if (row.expires_at <= deps.clock.now()) return { state: 'expired' };
  return {
    state: 'live',
    hash: row.hash,
    userId: row.user_id,
    factor: row.factor as FactorType,
    done: row.authenticated_by.split(',') as AuthMethod[],
  };
}

/** Burn the session before a token is issued; false when a concurrent request already did. */
export async function consumeMfaSession(db: Db, hash: string, now: number): Promise<boolean> {
  const result = await db
    .updateTable('mfa_sessions')
    .set({ consumed_at: now })
    .where('hash', '=', hash)
    .where('consumed_at', 'is', null)
    .where('expires_at', '>', now)
    .executeTakeFirst();
  return Number(result.numUpdatedRows) === 1;
}
