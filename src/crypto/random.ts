import { randomBytes, randomInt } from 'node:crypto';

/** 32 lowercase hex characters = 128 random bits: tokens, ids, API keys. */
export function randomHex(bytes = 16): string {
  return randomBytes(bytes).toString('hex');
}

/** A uniformly random numeric code of exactly `digits` digits (leading zeros kept). */
export function randomDigits(digits: number): string {
  let code = '';
  for (let i = 0; i < digits; i++) code += String(randomInt(10));
  return code;
}

/** Opaque URL-safe secret for values never typed by hand (MFA session ids). */
export function randomUrlSafe(bytes = 32): string {
  return randomBytes(bytes).toString('base64url');
}
