import { auditActor } from '../access/acting.js';
import { type Acting, AuthorizationMessages, authorize } from '../access/caller.js';
import { revokeUserTokens } from '../access/tokens.js';
import { badRequest, notFound } from '../core/errors.js';
import { type EventType, recordEvent, type SecurityEvent } from '../events/events.js';
import { requirePrecedence, requireUser } from '../identity/users.js';
import { resetPasscodeAttempts } from '../lockout/attempts.js';
import { locksOf } from '../lockout/locks.js';
import { resetPasswordAttempts } from '../lockout/password-attempts.js';
import { type FactorType, mfaRequired, type UserEnforcementLevel } from '../policy/enforcement.js';
import type { Actor, Deps } from '../services/deps.js';
import type { Db, UserView } from '../store/schema.js';
import { deleteOneTimeCodes } from './one-time-codes.js';
import { burnLoginPasscodes } from './sms/login-passcode.js';

/** Messages of PUT/DELETE .../RAX-AUTH/multi-factor, word for word from reference §7.12. */
export const SettingsMessages = {
  missing: 'Must provide a multifactor settings',
  mixedWhileEnabling: 'Cannot change other settings while setting multi factor.',
  mixedWhileDisabling: 'Cannot change other settings while disabling multi factor.',
  mixedWhileUnlocking: 'Cannot change other settings while unlocking multi factor.',
  mixedWhileSettingLevel: 'Cannot change other settings while setting user enforcement level.',
  mustSpecifyFactor: 'Must specify multi-factor authentication type to enable multi-factor authentication.',
  noDevice: 'User not associated with a multifactor device',
  deviceNotVerified: 'Device not verified',
  noVerifiedOtp: "User doesn't have a verified OTP device.",
  noVerifiedPhone: "User doesn't have a verified phone.",
  factorWithoutMfa: 'Can only set factor type when MFA is already enabled or while enabling MFA',
  ownAccount: AuthorizationMessages.ownUnlock,
  // Ours: the reference has no words for a bad enum value.
  badFactorType: "Invalid factorType: use 'SMS' or 'OTP'.",
  badLevel: "Invalid userMultiFactorEnforcementLevel: use 'DEFAULT', 'OPTIONAL' or 'REQUIRED'.",
} as const;

export const FACTOR_TYPES: readonly FactorType[] = ['SMS', 'OTP'];
export const USER_LEVELS: readonly UserEnforcementLevel[] = ['DEFAULT', 'OPTIONAL', 'REQUIRED'];

/** The body of PUT .../multi-factor as it arrives (types checked, values not yet). */
export interface MultiFactorSettingsInput {
  enabled?: boolean | null;
  factorType?: string | null;
  unlock?: boolean | null;
  userMultiFactorEnforcementLevel?: string | null;
}

/** Exactly one category per request (reference §7.12). */
export type MultiFactorChange =
  | { kind: 'enable'; enabled: true | undefined; factorType: FactorType | undefined }
  | { kind: 'disable' }
  | { kind: 'unlock' }
  | { kind: 'nothing' }
  | { kind: 'userLevel'; level: UserEnforcementLevel };

function factorTypeOf(value: string): FactorType {
  if (!(FACTOR_TYPES as readonly string[]).includes(value)) throw badRequest(SettingsMessages.badFactorType);
  return value as FactorType;
}

function levelOf(value: string): UserEnforcementLevel {
  if (!(USER_LEVELS as readonly string[]).includes(value)) throw badRequest(SettingsMessages.badLevel);
  return value as UserEnforcementLevel;
}

/**
 * Which change the body asks for. The category is read in the order `enabled`, `unlock`, the
 * enforcement level, then a lone `factorType` (which enables or switches the factor); anything
 * else in the body is a second category and refused with the first one's message. `unlock:
 * false` is a no-op (reference §4.7), so it neither counts nor mixes; null reads as absent.
 */
export function parseMultiFactorChange(
  input: MultiFactorSettingsInput | null | undefined,
): MultiFactorChange {
  if (!input) throw badRequest(SettingsMessages.missing);
  const enabled = input.enabled ?? undefined;
  const factorType = input.factorType ?? undefined;
  const unlock = input.unlock === true;
  const level = input.userMultiFactorEnforcementLevel ?? undefined;

  if (enabled === true) {
    if (unlock || level !== undefined) throw badRequest(SettingsMessages.mixedWhileEnabling);
    return { kind: 'enable', enabled: true, factorType: optionalFactorType(factorType) };
  }
  if (enabled === false) {
    if (unlock || level !== undefined || factorType !== undefined)
      throw badRequest(SettingsMessages.mixedWhileDisabling);
    return { kind: 'disable' };
  }
  if (unlock) {
    if (level !== undefined || factorType !== undefined)
      throw badRequest(SettingsMessages.mixedWhileUnlocking);
    return { kind: 'unlock' };
  }
  if (level !== undefined) {
    if (factorType !== undefined) throw badRequest(SettingsMessages.mixedWhileSettingLevel);
    return { kind: 'userLevel', level: levelOf(level) };
  }
  if (factorType !== undefined)
    return { kind: 'enable', enabled: undefined, factorType: factorTypeOf(factorType) };
  if (input.unlock === false) return { kind: 'nothing' };
  throw badRequest(SettingsMessages.missing);
}

function optionalFactorType(value: string | undefined): FactorType | undefined {
  return value === undefined ? undefined : factorTypeOf(value);
}

/**
 * Who may make the change. Everything but the enforcement level follows the multi-factor rule
 * (self or precedence, reference §7.0); unlock never on oneself; the level has its own callers
 * (reference §7.12).
 */
export function authorizeMultiFactorChange(
  acting: Acting,
  target: UserView,
  change: MultiFactorChange,
): void {
  if (change.kind === 'userLevel') authorize(acting, { kind: 'mfa.set-level', target });
  else if (change.kind === 'unlock') authorize(acting, { kind: 'mfa.unlock', target });
  else authorize(acting, { kind: 'user.manage', target });
}

/**
 * The user's row inside a transaction, locked for update: MFA state changes, a login's policy
 * re-check (which share-locks the row) and device count limits are serialised on it.
 */
export async function lockUserRow(trx: Db, userId: string): Promise<UserView> {
  const user = await trx
    .selectFrom('users')
    .selectAll()
    .where('id', '=', userId)
    .forUpdate()
    .executeTakeFirst();
  if (!user) throw notFound(`User ${userId} not found`);
  return user;
}

interface DeviceState {
  verifiedOtp: boolean;
  verifiedPhone: boolean;
  anyDevice: boolean;
}

async function deviceState(trx: Db, userId: string): Promise<DeviceState> {
  const otp = await trx
    .selectFrom('otp_devices')
    .select(['verified'])
    .where('user_id', '=', userId)
    .execute();
  const phones = await trx
    .selectFrom('mobile_phones')
    .select(['verified'])
    .where('user_id', '=', userId)
    .execute();
  return {
    verifiedOtp: otp.some((device) => device.verified === 1),
    verifiedPhone: phones.some((phone) => phone.verified === 1),
    anyDevice: otp.length + phones.length > 0,
  };
}

/** The factor an enable request ends with (reference §7.12 "Enable rules"). */
function factorToEnable(requested: FactorType | undefined, devices: DeviceState): FactorType {
  if (requested === 'OTP') {
    if (!devices.verifiedOtp) throw badRequest(SettingsMessages.noVerifiedOtp);
    return 'OTP';
  }
  if (requested === 'SMS') {
    if (!devices.verifiedPhone) throw badRequest(SettingsMessages.noVerifiedPhone);
    return 'SMS';
  }
  if (devices.verifiedOtp && devices.verifiedPhone) throw badRequest(SettingsMessages.mustSpecifyFactor);
  if (devices.verifiedOtp) return 'OTP';
  if (devices.verifiedPhone) return 'SMS';
  throw badRequest(devices.anyDevice ? SettingsMessages.deviceNotVerified : SettingsMessages.noDevice);
}

/** Delete what only an MFA login could use: bypass codes, pending passcodes, open OS-MF sessions. */
async function deleteSecondFactorCodes(trx: Db, userId: string): Promise<void> {
  await trx.deleteFrom('bypass_codes').where('user_id', '=', userId).execute();
  await deleteOneTimeCodes(trx, userId);
  await trx.deleteFrom('mfa_sessions').where('user_id', '=', userId).execute();
}

/** Records one event about the target user inside the change's transaction. */
type EventWriter = (type: EventType, detail: NonNullable<SecurityEvent['detail']>) => Promise<void>;

/**
 * PUT /v2.0/users/{id}/RAX-AUTH/multi-factor as one call: the body read (a bad one is a 400
 * before an unknown user is a 404), the change authorized for the one acting, then made.
 */
export async function changeMultiFactor(
  deps: Deps,
  acting: Acting,
  targetId: string,
  input: MultiFactorSettingsInput | null | undefined,
): Promise<void> {
  const change = parseMultiFactorChange(input);
  const target = await requireUser(deps.db, targetId);
  authorizeMultiFactorChange(acting, target, change);
  await applyMultiFactorChange(deps, acting, target.id, change);
}

/** PUT /v2.0/users/{id}/RAX-AUTH/multi-factor, after authorizeMultiFactorChange. */
export async function applyMultiFactorChange(
  deps: Deps,
  acting: Acting,
  targetId: string,
  change: MultiFactorChange,
): Promise<void> {
  const actor = auditActor(acting);
  if (change.kind === 'nothing') return;
  await deps.db.transaction().execute(async (trx) => {
    const user = await lockUserRow(trx, targetId);
    const now = deps.clock.now();
    const event: EventWriter = (type, detail) =>
      recordEvent(trx, now, {
        type,
        actorId: actor.userId,
        userId: user.id,
        domainId: user.domain_id,
        source: actor.source,
        detail,
      });
    switch (change.kind) {
      case 'enable':
        return enable(trx, actor, user, change, now, event);
      case 'disable': {
        if (user.mfa_enabled !== 1) return;
        await turnMultiFactorOff(trx, user.id, now);
        // Devices stay (reference §7.12); every code that only an MFA login could use goes.
        await deleteSecondFactorCodes(trx, user.id);
        await event('mfa.disabled', { factorType: user.factor_type });
        return;
      }
      case 'unlock': {
        // The panel's "Unlock User" (Rackspace's too): both locks, with or without MFA, so an
        // owner never has to tell which one keeps a user out.
        const lifted = locksOf(deps, user).inForce.map((lock) => lock.kind);
        await resetPasscodeAttempts(trx, user.id);
        await resetPasswordAttempts(trx, user.id);
        await event('mfa.unlocked', {
          lifted,
          wasLocked: lifted.includes('passcode'),
          failedAttempts: user.mfa_failed_count,
          passwordWasLocked: lifted.includes('password'),
          failedPasswords: user.password_failed_count,
        });
        return;
      }
      case 'userLevel':
        return setUserLevel(trx, actor, user, change.level, now, event);
    }
  });
}

async function enable(
  trx: Db,
  actor: Actor,
  user: UserView,
  change: Extract<MultiFactorChange, { kind: 'enable' }>,
  now: number,
  event: EventWriter,
): Promise<void> {
  const enabled = user.mfa_enabled === 1;
  if (change.enabled === undefined && !enabled) throw badRequest(SettingsMessages.factorWithoutMfa);
  // Already enabled and no factor named: nothing to change (reference §7.12 "no-op").
  if (enabled && change.factorType === undefined) return;
  const factor = factorToEnable(change.factorType, await deviceState(trx, user.id));
  if (enabled) {
    if (factor === user.factor_type) return;
    await trx
      .updateTable('users')
      .set({ factor_type: factor, updated_at: now })
      .where('id', '=', user.id)
      .execute();
    // A factor change revokes no token (reference §5.5), but what step 1 handed out for the old
    // factor goes: the pending SMS passcode and the open OS-MF sessions that named that factor.
    await burnLoginPasscodes(trx, user.id);
    await trx.deleteFrom('mfa_sessions').where('user_id', '=', user.id).execute();
    await event('mfa.factor_changed', { from: user.factor_type, to: factor });
    return;
  }
  await trx
    .updateTable('users')
    .set({
      mfa_enabled: 1,
      factor_type: factor,
      mfa_failed_count: 0,
      mfa_last_failed_at: null,
      updated_at: now,
    })
    .where('id', '=', user.id)
    .execute();
  // Same transaction as the switch: a password-only token (a SETUP-MFA token included) cannot
  // outlive it, and a concurrent password login either committed its token before this (and it
  // is revoked here) or re-checks policy after it and is challenged (reference §5.5).
  const revoked = await revokeUserTokens(trx, now, actor, user, {
    passwordOnly: true,
    reason: 'multi-factor enabled',
  });
  await event('mfa.enabled', { factorType: factor, tokensRevoked: revoked });
}

async function setUserLevel(
  trx: Db,
  actor: Actor,
  user: UserView,
  level: UserEnforcementLevel,
  now: number,
  event: EventWriter,
): Promise<void> {
  if (user.mfa_enforcement === level) return;
  let domainLevel: string | null = null;
  if (user.domain_id !== null) {
    const domain = await trx
      .selectFrom('domains')
      .select('mfa_enforcement')
      .where('id', '=', user.domain_id)
      .forShare()
      .executeTakeFirst();
    domainLevel = domain?.mfa_enforcement ?? null;
  }
  const wasRequired = mfaRequired(user.mfa_enforcement, domainLevel);
  const nowRequired = mfaRequired(level, domainLevel);
  // DEFAULT is stored as the word, so the user object shows it once it has been set.
  await trx
    .updateTable('users')
    .set({ mfa_enforcement: level, updated_at: now })
    .where('id', '=', user.id)
    .execute();
  let revoked = 0;
  // Only a user the change newly binds is logged out: one who was already required holds no
  // password token but may hold a SETUP-MFA token, which must survive (API.md "Revocation").
  if (user.mfa_enabled !== 1 && !wasRequired && nowRequired) {
    revoked = await revokeUserTokens(trx, now, actor, user, {
      passwordOnly: true,
      reason: 'user requires multi-factor',
    });
  }
  await event('mfa.user_enforcement_changed', {
    from: user.mfa_enforcement,
    to: level,
    tokensRevoked: revoked,
  });
}

/** MFA off: no factor, and the failure count and lock cleared with it. */
async function turnMultiFactorOff(db: Db, userId: string, now: number): Promise<void> {
  await db
    .updateTable('users')
    .set({
      mfa_enabled: 0,
      factor_type: null,
      mfa_failed_count: 0,
      mfa_last_failed_at: null,
      updated_at: now,
    })
    .where('id', '=', userId)
    .execute();
}

/**
 * DELETE /v2.0/users/{id}/RAX-AUTH/multi-factor (reference §7.13): MFA off, and the phone, every
 * OTP device and every code go with it. Self or precedence (reference §7.0); an unknown user 404.
 */
export async function removeMultiFactor(deps: Deps, acting: Acting, targetId: string): Promise<void> {
  await requirePrecedence(deps, acting, targetId);
  const actor = auditActor(acting);
  await deps.db.transaction().execute(async (trx) => {
    const user = await lockUserRow(trx, targetId);
    const now = deps.clock.now();
    await turnMultiFactorOff(trx, user.id, now);
    const phones = await trx.deleteFrom('mobile_phones').where('user_id', '=', user.id).executeTakeFirst();
    const devices = await trx.deleteFrom('otp_devices').where('user_id', '=', user.id).executeTakeFirst();
    await deleteSecondFactorCodes(trx, user.id);
    await recordEvent(trx, now, {
      type: 'mfa.removed',
      actorId: actor.userId,
      userId: user.id,
      domainId: user.domain_id,
      source: actor.source,
      detail: {
        wasEnabled: user.mfa_enabled === 1,
        phonesRemoved: Number(phones.numDeletedRows),
        otpDevicesRemoved: Number(devices.numDeletedRows),
      },
    });
  });
}
