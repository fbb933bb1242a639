import { randomBytes } from 'node:crypto';
import { Secret, TOTP } from 'otpauth';
import QRCode from 'qrcode';
import { constantEquals } from '../../crypto/constant-equals.js';
import type { Deps } from '../../services/deps.js';
import type { Db, OtpDeviceRow } from '../../store/schema.js';

/** RFC 6238 with the parameters every authenticator app defaults to: SHA-1, 6 digits, 30 s. */
export const TOTP_PERIOD_SECONDS = 30;
export const TOTP_DIGITS = 6;
/** One step either side tolerates clock drift (RFC 6238 §5.2 recommends at most one). */
export const TOTP_WINDOW = 1;
/** 160-bit secrets, the HMAC-SHA-1 block-size recommendation of RFC 4226 §4. */
export const TOTP_SECRET_BYTES = 20;

export function newTotpSecret(): string {
  return new Secret({ buffer: new Uint8Array(randomBytes(TOTP_SECRET_BYTES)).buffer }).base32;
}

export function totpFor(issuer: string, label: string, secretBase32: string): TOTP {
  return new TOTP({
    issuer,
    label,
    algorithm: 'SHA1',
    digits: TOTP_DIGITS,
    period: TOTP_PERIOD_SECONDS,
    secret: Secret.fromBase32(secretBase32),
  });
}

/** otpauth://totp/<issuer>:<name>?secret=<base32>&issuer=<issuer> (API.md). */
export function keyUri(issuer: string, deviceName: string, secretBase32: string): string {
  const label = `${encodeURIComponent(issuer)}:${encodeURIComponent(deviceName)}`;
  return `otpauth://totp/${label}?secret=${secretBase32}&issuer=${encodeURIComponent(issuer)}`;
}

export async function qrCodeDataUri(uri: string): Promise<string> {
  return QRCode.toDataURL(uri, { type: 'image/png', errorCorrectionLevel: 'M', margin: 4, width: 640 });
}

export function timeStep(epochMs: number): number {
  return Math.floor(epochMs / 1000 / TOTP_PERIOD_SECONDS);
}

/** The code for a given step; compared by the caller in constant time. */
export function codeAtStep(secretBase32: string, step: number): string {
  return totpFor('x', 'x', secretBase32).generate({ timestamp: step * TOTP_PERIOD_SECONDS * 1000 });
}

/**
 * The matching step within ±window of now that is newer than the last accepted one, or
 * undefined. Every candidate is computed and compared so timing does not tell which matched.
 */
export function matchingStep(
  secretBase32: string,
  code: string,
  nowMs: number,
  lastUsedStep: number | null,
): number | undefined {
  if (!/^\d{6}$/.test(code)) return undefined;
  const current = timeStep(nowMs);
  let found: number | undefined;
  for (let offset = -TOTP_WINDOW; offset <= TOTP_WINDOW; offset++) {
    const step = current + offset;
    const equal = constantEquals(code, codeAtStep(secretBase32, step));
    if (equal && found === undefined && (lastUsedStep === null || step > lastUsedStep)) found = step;
  }
  return found;
}

export function decryptSecret(deps: Deps, device: Pick<OtpDeviceRow, 'id' | 'secret_enc'>): string {
  return deps.keys.decrypt(device.secret_enc, `otp:${device.id}`);
}

export function encryptSecret(deps: Deps, deviceId: string, secretBase32: string): string {
  return deps.keys.encrypt(secretBase32, `otp:${deviceId}`);
}

/** What judging a code needs of an authenticator (a login reads it with the OS-MF session). */
export type LoginOtpDevice = Pick<OtpDeviceRow, 'id' | 'secret_enc' | 'last_used_step'>;

/**
 * Accept a TOTP code for a device at most once: the step is recorded with a guarded UPDATE that
 * only succeeds while the stored step is older, so a replay (or a concurrent double submit) fails.
 * `db` is the caller's transaction when the acceptance is part of a larger change.
 */
export async function acceptTotp(
  deps: Deps,
  device: LoginOtpDevice,
  code: string,
  db: Db = deps.db,
): Promise<boolean> {
  const step = matchingStep(decryptSecret(deps, device), code, deps.clock.now(), device.last_used_step);
  if (step === undefined) return false;
  const result = await db
    .updateTable('otp_devices')
    .set({ last_used_step: step })
    .where('id', '=', device.id)
    .where((eb) => eb.or([eb('last_used_step', 'is', null), eb('last_used_step', '<', step)]))
    .executeTakeFirst();
  return Number(result.numUpdatedRows) === 1;
}

/** Step 2 of an OTP login: any of the user's verified devices (as read with the session) may answer. */
export async function verifyTotpForLogin(
  deps: Deps,
  devices: readonly LoginOtpDevice[],
  code: string,
): Promise<boolean> {
  for (const device of devices) {
    if (await acceptTotp(deps, device, code)) return true;
  }
  return false;
}
