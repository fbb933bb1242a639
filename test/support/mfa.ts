import { createHmac, randomBytes } from 'node:crypto';
import type { TestEnv, TestUser } from './harness.js';
import { parseChallenge, passwordLogin } from './harness.js';

const BASE32 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';

function base32Decode(text: string): Buffer {
  let bits = 0;
  let value = 0;
  const out: number[] = [];
  for (const char of text.replace(/=+$/, '').toUpperCase()) {
    const index = BASE32.indexOf(char);
    if (index < 0) throw new Error(`bad base32 character ${char}`);
    value = (value << 5) | index;
    bits += 5;
    if (bits >= 8) {
      out.push((value >>> (bits - 8)) & 0xff);
      bits -= 8;
    }
  }
  return Buffer.from(out);
}

/** RFC 6238 TOTP written here, independent of the server's library, for the tests' authenticator. */
export function totpAt(secretBase32: string, epochMs: number, digits = 6, period = 30): string {
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(Math.floor(epochMs / 1000 / period)));
  const mac = createHmac('sha1', base32Decode(secretBase32)).update(counter).digest();
  const offset = (mac[mac.length - 1] ?? 0) & 0x0f;
  const binary = mac.readUInt32BE(offset) & 0x7fffffff;
  return String(binary % 10 ** digits).padStart(digits, '0');
}

export function secretOf(keyUri: string): string {
  const secret = new URL(keyUri).searchParams.get('secret');
  if (!secret) throw new Error(`no secret in ${keyUri}`);
  return secret;
}

const mfaPath = (user: TestUser) => `/v2.0/users/${user.id}/RAX-AUTH/multi-factor`;

/** Add and verify an authenticator, then enable OTP MFA, all over HTTP. Returns the secret. */
export async function enableOtp(env: TestEnv, user: TestUser, token = user.token): Promise<string> {
  const created = await env.request('POST', `${mfaPath(user)}/otp-devices`, {
    token,
    body: { 'RAX-AUTH:otpDevice': { name: 'phone app' } },
  });
  if (created.status !== 201) throw new Error(`add OTP device: ${created.status} ${created.text}`);
  const device = created.body['RAX-AUTH:otpDevice'] as { id: string; keyUri: string };
  const secret = secretOf(device.keyUri);
  const verified = await env.request('POST', `${mfaPath(user)}/otp-devices/${device.id}/verify`, {
    token,
    body: { 'RAX-AUTH:verificationCode': { code: totpAt(secret, env.clock.now()) } },
  });
  if (verified.status !== 204) throw new Error(`verify OTP device: ${verified.status} ${verified.text}`);
  const enabled = await env.request('PUT', mfaPath(user), {
    token,
    body: { 'RAX-AUTH:multiFactor': { enabled: true } },
  });
  if (enabled.status !== 204) throw new Error(`enable MFA: ${enabled.status} ${enabled.text}`);
  // The verifying code's step is spent; move on so the next code is fresh.
  env.clock.advance(30_000);
  return secret;
}

/** Add and verify a phone (PIN read from the fake SMS sender), then enable SMS MFA. */
export async function enableSms(
  env: TestEnv,
  user: TestUser,
  number = '+12015550123',
  token = user.token,
): Promise<void> {
  const added = await env.request('POST', `${mfaPath(user)}/mobile-phones`, {
    token,
    body: { 'RAX-AUTH:mobilePhone': { number } },
  });
  if (added.status !== 201) throw new Error(`add phone: ${added.status} ${added.text}`);
  const phone = added.body['RAX-AUTH:mobilePhone'] as { id: string; number: string };
  const sent = await env.request('POST', `${mfaPath(user)}/mobile-phones/${phone.id}/verificationcode`, {
    token,
  });
  if (sent.status !== 202) throw new Error(`send PIN: ${sent.status} ${sent.text}`);
  const pin = /(\d{4})\D*$/.exec(env.sms.last(phone.number)?.body ?? '')?.[1];
  const verified = await env.request('POST', `${mfaPath(user)}/mobile-phones/${phone.id}/verify`, {
    token,
    body: { 'RAX-AUTH:verificationCode': { code: pin } },
  });
  if (verified.status !== 204) throw new Error(`verify phone: ${verified.status} ${verified.text}`);
  const enabled = await env.request('PUT', mfaPath(user), {
    token,
    body: { 'RAX-AUTH:multiFactor': { enabled: true } },
  });
  if (enabled.status !== 204) throw new Error(`enable MFA: ${enabled.status} ${enabled.text}`);
}

/** Step 1 of a password login; returns the OS-MF session id. */
export async function startMfaLogin(
  env: TestEnv,
  user: TestUser,
): Promise<{ sessionId: string; factor: string }> {
  const response = await passwordLogin(env, user.username, user.password);
  if (response.status !== 401)
    throw new Error(`expected a challenge, got ${response.status} ${response.text}`);
  return parseChallenge(response);
}

export function sendPasscode(env: TestEnv, sessionId: string, passcode: string) {
  return env.request('POST', '/v2.0/tokens', {
    headers: { 'X-SessionId': sessionId },
    body: { auth: { 'RAX-AUTH:passcodeCredentials': { passcode } } },
  });
}

/** The latest SMS passcode sent to a number. */
export function lastSmsPasscode(env: TestEnv, number = '+12015550123'): string {
  const code = /(\d{7})\D*$/.exec(env.sms.last(number)?.body ?? '')?.[1];
  if (!code) throw new Error(`no passcode sent to ${number}`);
  return code;
}

/** A passkey is registered by a browser ceremony (test/panel-passkeys.test.ts); here only its row. */
export async function givePasskey(
  env: TestEnv,
  user: Pick<TestUser, 'id'>,
  nickname = 'Desk key',
): Promise<string> {
  const id = randomBytes(16).toString('hex');
  await env.deps.db
    .insertInto('passkeys')
    .values({
      id,
      user_id: user.id,
      credential_id: randomBytes(16).toString('base64url'),
      public_key: Buffer.from('not checked here').toString('base64url'),
      sign_count: 0,
      transports: 'usb',
      aaguid: '00000000-0000-0000-0000-000000000000',
      backup_eligible: 0,
      backed_up: 0,
      nickname,
      created_at: env.clock.now(),
      last_used_at: null,
    })
    .execute();
  return id;
}
