import { type Acting, auditActor } from '../../access/acting.js';
import { authorize } from '../../access/caller.js';
import { badRequest, notFound } from '../../core/errors.js';
import { randomHex } from '../../crypto/random.js';
import { recordEvent } from '../../events/events.js';
import type { Actor, Deps } from '../../services/deps.js';
import type { Db, OtpDeviceRow, UserView } from '../../store/schema.js';
import { lockUserRow } from '../settings.js';
import { acceptTotp, decryptSecret, encryptSecret, keyUri, newTotpSecret, qrCodeDataUri } from './totp.js';

/**
 * The name travels URI-encoded inside keyUri, which must still fit a QR code (at most 2331
 * bytes at error correction level M); this bound leaves room for the issuer and the secret.
 */
const MAX_ENCODED_NAME = 1024;
// Control characters (PostgreSQL refuses NUL outright) and lone UTF-16 surrogates, which
// encodeURIComponent cannot encode.
const INVALID_NAME = /[\p{Cc}\p{Cs}]/u;

/** Up to five authenticators per user (reference §7.7, §9). */
export const MAX_OTP_DEVICES = 5;
/** The column's width; a longer name is refused rather than cut. */
export const MAX_OTP_DEVICE_NAME = 255;

/** Messages of the OTP device calls, word for word from reference §7.7–7.9. */
export const OtpMessages = {
  nameMissing: 'Must provide a name for an OTP device',
  tooMany: 'You have added the maximum number of devices allowed for your profile',
  notFound: 'OTP device not found',
  deleteNotFound: 'The device was not found on the specified user',
  lastVerified:
    'You can not delete the last verified OTP device when your account is configured to use OTP multifactor.',
  codeMissing: 'Must provide a verification code',
  badCode: 'The provided pin is either invalid or expired.',
  alreadyVerified: 'The specified device has already been verified',
  // Ours.
  nameTooLong: `The name of an OTP device is too long: at most ${MAX_OTP_DEVICE_NAME} characters, fewer outside ASCII.`,
  nameInvalid: 'The name of an OTP device may not contain control characters.',
} as const;

export interface OtpDeviceView {
  id: string;
  name: string;
  verified: boolean;
}

/** What creation returns, once: the secret travels only inside keyUri and the QR code. */
export interface NewOtpDevice extends OtpDeviceView {
  keyUri: string;
  qrcode: string;
}

export const viewOf = (device: Pick<OtpDeviceRow, 'id' | 'name' | 'verified'>): OtpDeviceView => ({
  id: device.id,
  name: device.name,
  verified: device.verified === 1,
});

function deviceEvent(
  db: Db,
  now: number,
  actor: Actor,
  user: UserView,
  type: 'device.added' | 'device.verified' | 'device.removed',
  device: Pick<OtpDeviceRow, 'id' | 'name'>,
): Promise<void> {
  return recordEvent(db, now, {
    type,
    actorId: actor.userId,
    userId: user.id,
    domainId: user.domain_id,
    source: actor.source,
    detail: { kind: 'OTP', deviceId: device.id, name: device.name },
  });
}

/** POST .../otp-devices (reference §7.7). */
export async function addOtpDevice(
  deps: Deps,
  acting: Acting,
  user: UserView,
  name: string | null | undefined,
): Promise<NewOtpDevice> {
  authorize(acting, { kind: 'user.manage', target: user });
  const actor = auditActor(acting);
  if (name === undefined || name === null || name.trim() === '')
    throw badRequest(OtpMessages.nameMissing).because('device-name-missing');
  if (INVALID_NAME.test(name)) throw badRequest(OtpMessages.nameInvalid).because('device-name-invalid');
  if (name.length > MAX_OTP_DEVICE_NAME || encodeURIComponent(name).length > MAX_ENCODED_NAME)
    throw badRequest(OtpMessages.nameTooLong).because('device-name-too-long');
  const id = randomHex();
  const secret = newTotpSecret();
  const uri = keyUri(deps.config.otpIssuer, name, secret);
  // Rendered before the transaction: it is CPU work that need not hold the user's row lock.
  const qrcode = await qrCodeDataUri(uri);
  await deps.db.transaction().execute(async (trx) => {
    // The row lock makes count-then-insert atomic: concurrent adds cannot pass the limit together.
    await lockUserRow(trx, user.id);
    const { count } = await trx
      .selectFrom('otp_devices')
      .select((eb) => eb.fn.countAll<number>().as('count'))
      .where('user_id', '=', user.id)
      .executeTakeFirstOrThrow();
    if (Number(count) >= MAX_OTP_DEVICES) throw badRequest(OtpMessages.tooMany);
    const now = deps.clock.now();
    await trx
      .insertInto('otp_devices')
      .values({
        id,
        user_id: user.id,
        name,
        // The seed is bound to its device id, so an envelope moved to another row fails to open.
        secret_enc: encryptSecret(deps, id, secret),
        verified: 0,
        last_used_step: null,
        created_at: now,
      })
      .execute();
    await deviceEvent(trx, now, actor, user, 'device.added', { id, name });
  });
  return { id, name, keyUri: uri, qrcode, verified: false };
}

/** A device still being set up: what an authenticator app needs to pair with it. */
export interface OtpEnrolment extends NewOtpDevice {
  /** Base32, for typing into an app that cannot scan. */
  secret: string;
}

/**
 * The pairing data of a device that is not verified yet, so its setup can be finished later (the
 * seeds' "Manage" on an unverified device). A verified device's secret is never handed out again.
 */
export async function otpEnrolment(deps: Deps, userId: string, deviceId: string): Promise<OtpEnrolment> {
  const row = await deps.db
    .selectFrom('otp_devices')
    .selectAll()
    .where('user_id', '=', userId)
    .where('id', '=', deviceId)
    .executeTakeFirst();
  if (!row) throw notFound(OtpMessages.notFound);
  if (row.verified === 1) throw badRequest(OtpMessages.alreadyVerified);
  const secret = decryptSecret(deps, row);
  const uri = keyUri(deps.config.otpIssuer, row.name, secret);
  return { ...viewOf(row), keyUri: uri, qrcode: await qrCodeDataUri(uri), secret };
}

export async function listOtpDevices(db: Db, userId: string): Promise<OtpDeviceView[]> {
  const rows = await db
    .selectFrom('otp_devices')
    .select(['id', 'name', 'verified'])
    .where('user_id', '=', userId)
    .orderBy('created_at')
    .orderBy('id')
    .execute();
  return rows.map(viewOf);
}

export async function getOtpDevice(db: Db, userId: string, deviceId: string): Promise<OtpDeviceView> {
  const row = await db
    .selectFrom('otp_devices')
    .select(['id', 'name', 'verified'])
    .where('user_id', '=', userId)
    .where('id', '=', deviceId)
    .executeTakeFirst();
  if (!row) throw notFound(OtpMessages.notFound);
  return viewOf(row);
}

/**
 * POST .../otp-devices/{id}/verify (reference §7.8). The code is accepted through acceptTotp, so
 * its time step is spent: the same code cannot then complete a login (RFC 6238 §5.2).
 */
export async function verifyOtpDevice(
  deps: Deps,
  acting: Acting,
  user: UserView,
  deviceId: string,
  code: string | null | undefined,
): Promise<void> {
  authorize(acting, { kind: 'user.manage', target: user });
  const actor = auditActor(acting);
  await deps.db.transaction().execute(async (trx) => {
    const device = await trx
      .selectFrom('otp_devices')
      .selectAll()
      .where('user_id', '=', user.id)
      .where('id', '=', deviceId)
      .forUpdate()
      .executeTakeFirst();
    if (!device) throw notFound(OtpMessages.notFound);
    if (device.verified === 1) throw badRequest(OtpMessages.alreadyVerified);
    if (code === undefined || code === null || code.trim() === '') throw badRequest(OtpMessages.codeMissing);
    if (!(await acceptTotp(deps, device, code.trim(), trx)))
      throw badRequest(OtpMessages.badCode).because('wrong-device-code');
    await trx.updateTable('otp_devices').set({ verified: 1 }).where('id', '=', device.id).execute();
    await deviceEvent(trx, deps.clock.now(), actor, user, 'device.verified', device);
  });
}

/** DELETE .../otp-devices/{id} (reference §7.9). */
export async function deleteOtpDevice(
  deps: Deps,
  acting: Acting,
  user: UserView,
  deviceId: string,
): Promise<void> {
  authorize(acting, { kind: 'user.manage', target: user });
  const actor = auditActor(acting);
  await deps.db.transaction().execute(async (trx) => {
    // Locked so two concurrent deletes cannot each leave the other as "not the last one".
    const current = await lockUserRow(trx, user.id);
    const devices = await trx
      .selectFrom('otp_devices')
      .select(['id', 'name', 'verified'])
      .where('user_id', '=', user.id)
      .execute();
    const device = devices.find((candidate) => candidate.id === deviceId);
    if (!device) throw notFound(OtpMessages.deleteNotFound);
    const otherVerified = devices.some((other) => other.id !== device.id && other.verified === 1);
    const otpInUse = current.mfa_enabled === 1 && current.factor_type === 'OTP';
    if (otpInUse && device.verified === 1 && !otherVerified)
      throw badRequest(OtpMessages.lastVerified).because('last-verified-device');
    await trx.deleteFrom('otp_devices').where('id', '=', device.id).execute();
    await deviceEvent(trx, deps.clock.now(), actor, current, 'device.removed', device);
  });
}

/** GET .../multi-factor/devices (reference §7.10): both kinds, empty arrays always present. */
export async function listAllDevices(
  db: Db,
  userId: string,
): Promise<{
  mobilePhones: { id: string; number: string; verified: boolean }[];
  otpDevices: OtpDeviceView[];
}> {
  const phones = await db
    .selectFrom('mobile_phones')
    .select(['id', 'number', 'verified'])
    .where('user_id', '=', userId)
    .orderBy('created_at')
    .execute();
  return {
    mobilePhones: phones.map((phone) => ({
      id: phone.id,
      number: phone.number,
      verified: phone.verified === 1,
    })),
    otpDevices: await listOtpDevices(db, userId),
  };
}
