import { sql } from 'kysely';
import {
  type CountryCode,
  getCountries,
  getCountryCallingCode,
  parsePhoneNumberFromString,
} from 'libphonenumber-js/max';
import { type Acting, auditActor } from '../../access/acting.js';
import { authorize } from '../../access/caller.js';
import { badRequest, notFound } from '../../core/errors.js';
import { constantEquals } from '../../crypto/constant-equals.js';
import { randomDigits, randomHex } from '../../crypto/random.js';
import { recordEvent } from '../../events/events.js';
import type { Deps } from '../../services/deps.js';
import { isUniqueViolation } from '../../store/dialect-differences.js';
import type { Db, MobilePhoneRow, UserView } from '../../store/schema.js';
import { assertCountryAllowed, deliverSms } from './delivery.js';

/** Reference §9: a 4-digit PIN, valid 10 minutes. */
export const PIN_DIGITS = 4;
export const PIN_TTL_MS = 10 * 60_000;
/**
 * Ours (API.md "SMS"): at most 5 wrong tries per PIN, then it is void. 10^4 PINs and 5 tries
 * give a guesser 1 chance in 2000 per PIN sent, and every PIN sent is under the SMS limits.
 */
export const PIN_MAX_ATTEMPTS = 5;

/** The reference's messages for reference §7.1–7.6 (a hint after its words where one helps). */
export const PhoneMessages = {
  missingNumber: 'Must provide a telephone number',
  invalidNumber:
    'The provided phone number is invalid. Give it with its country code, in E.164 form (e.g. +15125550100).',
  cannotReplace: 'Cannot replace device with multifactor enabled',
  notFound: 'Mobile phone not found',
  invalidDevice: 'The specified device is invalid',
  alreadyVerified: 'The specified device has already been verified',
  missingCode: 'Must provide a verification code',
  badPin: 'The provided pin is either invalid or expired.',
  cannotDelete:
    'You can not delete your mobile phone when your account is configured to use SMS multifactor.',
} as const;

/**
 * Number types that must never receive our texts: premium-rate and shared-cost numbers are how
 * SMS toll fraud earns its money (the sender pays the destination's operator).
 */
const REFUSED_TYPES: ReadonlySet<string> = new Set(['PREMIUM_RATE', 'SHARED_COST']);

/**
 * E.123/E.164 input (`+1 512-555-1000`) → E.164 (`+15125551000`), checked against the full
 * numbering-plan metadata. International form only: without a `+` there is no country to judge by.
 */
export function normalisePhoneNumber(raw: unknown): string {
  if (raw === undefined || raw === null || (typeof raw === 'string' && raw.trim() === '')) {
    throw badRequest(PhoneMessages.missingNumber).because('phone-invalid');
  }
  if (typeof raw !== 'string' || raw.length > 64)
    throw badRequest(PhoneMessages.invalidNumber).because('phone-invalid');
  const parsed = parsePhoneNumberFromString(raw.trim());
  if (!parsed?.isValid() || parsed.ext !== undefined || REFUSED_TYPES.has(parsed.getType() ?? '')) {
    throw badRequest(PhoneMessages.invalidNumber).because('phone-invalid');
  }
  return parsed.number;
}

/** A country a phone number can be registered in: ISO code and calling code. */
export interface PhoneCountry {
  code: string;
  callingCode: string;
}

/** Every country of the numbering-plan metadata, for a country code selector. */
export function phoneCountries(): PhoneCountry[] {
  return getCountries().map((code) => ({ code, callingCode: getCountryCallingCode(code) }));
}

/**
 * A number typed as a country and a national number (the seeds' country code selector), in the
 * international form normalisePhoneNumber reads. A number typed with its own `+` keeps its country.
 */
export function internationalNumber(country: string, national: string): string {
  const typed = national.trim();
  if (typed === '' || typed.startsWith('+')) return typed;
  if (!(getCountries() as string[]).includes(country))
    throw badRequest(PhoneMessages.invalidNumber).because('phone-invalid');
  const parsed = parsePhoneNumberFromString(typed, country as CountryCode);
  if (!parsed) throw badRequest(PhoneMessages.invalidNumber).because('phone-invalid');
  return parsed.number;
}

/** `+12015550123` → `+1 201 555 0123`, for showing a user its own number. */
export function formatPhoneNumber(e164: string): string {
  return parsePhoneNumberFromString(e164)?.formatInternational() ?? e164;
}

/** `+12015550123` → `+1******0123`: the country code and the last four digits (API.md). */
export function maskPhoneNumber(e164: string): string {
  const parsed = parsePhoneNumberFromString(e164);
  if (!parsed) return `+${'*'.repeat(Math.max(0, e164.length - 5))}${e164.slice(-4)}`;
  const national = parsed.nationalNumber;
  const shown = Math.min(4, national.length);
  return `+${parsed.countryCallingCode}${'*'.repeat(national.length - shown)}${national.slice(-shown)}`;
}

export interface PhoneView {
  id: string;
  number: string;
  verified: boolean;
}

export function phoneView(row: Pick<MobilePhoneRow, 'id' | 'number' | 'verified'>): PhoneView {
  return { id: row.id, number: row.number, verified: row.verified === 1 };
}

function pinHash(deps: Deps, phoneId: string, pin: string): string {
  return deps.keys.hashFor(`phone-pin:${phoneId}`, pin);
}

export async function listPhones(db: Db, userId: string): Promise<PhoneView[]> {
  const rows = await db
    .selectFrom('mobile_phones')
    .select(['id', 'number', 'verified'])
    .where('user_id', '=', userId)
    .execute();
  return rows.map(phoneView);
}

export async function getPhone(db: Db, userId: string, phoneId: string): Promise<PhoneView> {
  const row = await findPhone(db, userId, phoneId);
  if (!row) throw notFound(PhoneMessages.notFound);
  return phoneView(row);
}

/** The user's phone, if `phoneId` names it: another user's phone id is as unknown as a made-up one. */
function findPhone(db: Db, userId: string, phoneId: string): Promise<MobilePhoneRow | undefined> {
  return db
    .selectFrom('mobile_phones')
    .selectAll()
    .where('id', '=', phoneId)
    .where('user_id', '=', userId)
    .executeTakeFirst();
}

/** Where SMS login passcodes and temporary codes go. */
export function findVerifiedPhone(db: Db, userId: string): Promise<MobilePhoneRow | undefined> {
  return db
    .selectFrom('mobile_phones')
    .selectAll()
    .where('user_id', '=', userId)
    .where('verified', '=', 1)
    .executeTakeFirst();
}

/**
 * The user's MFA state, read again inside the transaction that changes the phone, the row
 * locked, so enabling SMS MFA and removing or replacing the phone serialise on it.
 */
async function lockMfaState(trx: Db, userId: string): Promise<Pick<UserView, 'mfa_enabled' | 'factor_type'>> {
  const row = await trx
    .selectFrom('users')
    .select(['mfa_enabled', 'factor_type'])
    .where('id', '=', userId)
    .forUpdate()
    .executeTakeFirst();
  if (!row) throw notFound(`User ${userId} not found`);
  return row;
}

const smsIsTheFactor = (user: Pick<UserView, 'mfa_enabled' | 'factor_type'>): boolean =>
  user.mfa_enabled === 1 && user.factor_type === 'SMS';

/**
 * Reference §7.1: one phone per user. The same number again returns the phone as it is; another
 * number replaces it (unverified) unless SMS is the user's active factor.
 */
export async function addPhone(
  deps: Deps,
  acting: Acting,
  target: UserView,
  rawNumber: unknown,
): Promise<{ phone: PhoneView; created: boolean }> {
  authorize(acting, { kind: 'user.manage', target });
  const actor = auditActor(acting);
  const number = normalisePhoneNumber(rawNumber);
  assertCountryAllowed(deps, number);
  // Two concurrent adds on PostgreSQL can both find no phone; the unique user_id decides and the
  // loser runs again, now seeing the winner's phone.
  for (let attempt = 1; ; attempt++) {
    try {
      return await deps.db.transaction().execute(async (trx) => {
        const user = await lockMfaState(trx, target.id);
        const existing = await trx
          .selectFrom('mobile_phones')
          .selectAll()
          .where('user_id', '=', target.id)
          .executeTakeFirst();
        if (existing?.number === number) return { phone: phoneView(existing), created: false };
        if (existing && smsIsTheFactor(user))
          throw badRequest(PhoneMessages.cannotReplace).because('phone-is-factor');
        const now = deps.clock.now();
        if (existing) {
          await trx.deleteFrom('mobile_phones').where('id', '=', existing.id).execute();
          await recordEvent(trx, now, {
            type: 'device.removed',
            actorId: actor.userId,
            userId: target.id,
            domainId: target.domain_id,
            source: actor.source,
            detail: { deviceType: 'SMS', deviceId: existing.id, reason: 'replaced' },
          });
        }
        const row = {
          id: randomHex(),
          user_id: target.id,
          number,
          verified: 0,
          pin_hash: null,
          pin_expires_at: null,
          pin_failed_count: 0,
          created_at: now,
        };
        await trx.insertInto('mobile_phones').values(row).execute();
        await recordEvent(trx, now, {
          type: 'device.added',
          actorId: actor.userId,
          userId: target.id,
          domainId: target.domain_id,
          source: actor.source,
          detail: { deviceType: 'SMS', deviceId: row.id, number: maskPhoneNumber(number) },
        });
        return { phone: phoneView(row), created: true };
      });
    } catch (error) {
      if (attempt >= 3 || !isUniqueViolation(error)) throw error;
    }
  }
}

/** Reference §7.6: not while SMS is the active factor (the user would be left without it). */
export async function removePhone(
  deps: Deps,
  acting: Acting,
  target: UserView,
  phoneId: string,
): Promise<void> {
  authorize(acting, { kind: 'user.manage', target });
  const actor = auditActor(acting);
  await deps.db.transaction().execute(async (trx) => {
    const user = await lockMfaState(trx, target.id);
    const phone = await findPhone(trx, target.id, phoneId);
    if (!phone) throw notFound(PhoneMessages.notFound);
    if (smsIsTheFactor(user)) throw badRequest(PhoneMessages.cannotDelete).because('phone-is-factor');
    await trx.deleteFrom('mobile_phones').where('id', '=', phone.id).execute();
    await recordEvent(trx, deps.clock.now(), {
      type: 'device.removed',
      actorId: actor.userId,
      userId: target.id,
      domainId: target.domain_id,
      source: actor.source,
      detail: { deviceType: 'SMS', deviceId: phone.id },
    });
  });
}

/** The DELETE .../mobile-phones form without an id (reference §7.6, [DOC]): the one phone. */
export async function removeOnlyPhone(deps: Deps, acting: Acting, target: UserView): Promise<void> {
  const [phone] = await listPhones(deps.db, target.id);
  if (!phone) throw notFound(PhoneMessages.notFound);
  await removePhone(deps, acting, target, phone.id);
}

export function verificationPinText(pin: string): string {
  return `Latchkey verification PIN: ${pin}`;
}

/**
 * Reference §7.2: a new 4-digit PIN, valid 10 minutes, replacing any earlier one, with a fresh
 * allowance of tries. Only its keyed hash is stored. If the text cannot be sent (limits, country,
 * provider), the earlier PIN is put back as it was, so a refused resend changes nothing.
 */
export async function sendVerificationPin(deps: Deps, target: UserView, phoneId: string): Promise<void> {
  const phone = await findPhone(deps.db, target.id, phoneId);
  if (!phone) throw notFound(PhoneMessages.invalidDevice);
  if (phone.verified === 1) throw badRequest(PhoneMessages.alreadyVerified);
  const pin = randomDigits(PIN_DIGITS);
  const hash = pinHash(deps, phone.id, pin);
  const stored = await deps.db
    .updateTable('mobile_phones')
    .set({ pin_hash: hash, pin_expires_at: deps.clock.now() + PIN_TTL_MS, pin_failed_count: 0 })
    .where('id', '=', phone.id)
    .where('verified', '=', 0)
    .executeTakeFirst();
  if (Number(stored.numUpdatedRows) !== 1) {
    // Removed or verified between the read and the write: answer as if it had happened first.
    if (!(await findPhone(deps.db, target.id, phoneId))) throw notFound(PhoneMessages.invalidDevice);
    throw badRequest(PhoneMessages.alreadyVerified);
  }
  try {
    await deliverSms(deps, target.id, phone.number, verificationPinText(pin));
  } catch (error) {
    await deps.db
      .updateTable('mobile_phones')
      .set({
        pin_hash: phone.pin_hash,
        pin_expires_at: phone.pin_expires_at,
        pin_failed_count: phone.pin_failed_count,
      })
      .where('id', '=', phone.id)
      .where('pin_hash', '=', hash)
      .execute();
    throw error;
  }
}

/** The body's code, or the reference's 400 when there is none. */
export function verificationCodeOf(raw: unknown): string {
  if (typeof raw === 'number' && Number.isInteger(raw)) return String(raw);
  if (typeof raw !== 'string' || raw.trim() === '') throw badRequest(PhoneMessages.missingCode);
  return raw.trim();
}

/**
 * Reference §7.3. The try is counted *before* the PIN is judged, in one guarded UPDATE: once
 * PIN_MAX_ATTEMPTS tries are spent no row matches, so concurrent guesses can never get more than
 * that many comparisons, on one instance or many. Success clears the PIN in an UPDATE guarded by
 * the same hash, so a PIN replaced meanwhile cannot verify the phone.
 */
export async function verifyPhone(
  deps: Deps,
  acting: Acting,
  target: UserView,
  phoneId: string,
  code: string,
): Promise<void> {
  authorize(acting, { kind: 'user.manage', target });
  const actor = auditActor(acting);
  const phone = await findPhone(deps.db, target.id, phoneId);
  if (!phone) throw notFound(PhoneMessages.invalidDevice);
  if (phone.verified === 1) throw badRequest(PhoneMessages.alreadyVerified);
  const now = deps.clock.now();
  const reserved = await deps.db
    .updateTable('mobile_phones')
    .set({ pin_failed_count: sql<number>`pin_failed_count + 1` })
    .where('id', '=', phone.id)
    .where('verified', '=', 0)
    .where('pin_hash', 'is not', null)
    .where('pin_expires_at', '>', now)
    .where('pin_failed_count', '<', PIN_MAX_ATTEMPTS)
    .returning('pin_hash')
    .executeTakeFirst();
  const storedHash = reserved?.pin_hash;
  if (!storedHash || code.length > 16) throw badRequest(PhoneMessages.badPin).because('wrong-pin');
  if (!constantEquals(pinHash(deps, phone.id, code), storedHash))
    throw badRequest(PhoneMessages.badPin).because('wrong-pin');
  await deps.db.transaction().execute(async (trx) => {
    const done = await trx
      .updateTable('mobile_phones')
      .set({ verified: 1, pin_hash: null, pin_expires_at: null, pin_failed_count: 0 })
      .where('id', '=', phone.id)
      .where('pin_hash', '=', storedHash)
      .executeTakeFirst();
    if (Number(done.numUpdatedRows) !== 1) throw badRequest(PhoneMessages.badPin).because('wrong-pin');
    await recordEvent(trx, now, {
      type: 'device.verified',
      actorId: actor.userId,
      userId: target.id,
      domainId: target.domain_id,
      source: actor.source,
      detail: { deviceType: 'SMS', deviceId: phone.id },
    });
  });
}
