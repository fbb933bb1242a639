import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import jsQRModule from 'jsqr';
import { PNG } from 'pngjs';
import { Messages } from '../src/core/errors.js';
import { accessOf, assertFault } from './support/api.js';
import {
  createAccount,
  createAdmin,
  createTestEnv,
  dialects,
  parseChallenge,
  passwordLogin,
  type Response,
  type TestEnv,
  type TestUser,
} from './support/harness.js';
import { totpAt } from './support/mfa.js';
import { requireTool } from './support/tools.js';

// jsqr is CommonJS whose typings declare an ES default export; under NodeNext the default import
// is module.exports, which is the decoder itself and also carries it as `.default`.
const jsQR = (jsQRModule as unknown as { default: typeof jsQRModule.default }).default;

/*
 * The tests' authenticator (support/mfa.ts totpAt), written from RFC 4226 §5.3 and RFC 6238 §4
 * with node:crypto only, independent of the server's TOTP library: checked here against the
 * RFC's vectors, and again by Debian's oathtool.
 */
const BASE32_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';

function bytesToBase32(bytes: Buffer): string {
  let out = '';
  let buffer = 0;
  let bits = 0;
  for (const byte of bytes) {
    buffer = (buffer << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      bits -= 5;
      out += BASE32_ALPHABET[(buffer >> bits) & 31];
    }
  }
  if (bits > 0) out += BASE32_ALPHABET[(buffer << (5 - bits)) & 31];
  return out;
}

const OATHTOOL = '/usr/bin/oathtool';
const oathtoolMissing = requireTool('oathtool');

function oathtool(secret: string, epochMs: number): string {
  const now = new Date(epochMs).toISOString().replace(/\.\d{3}Z$/, 'Z');
  return execFileSync(OATHTOOL, ['--totp', '-b', '--now', now, secret], { encoding: 'utf8' }).trim();
}

/** The code an authenticator app shows at `epochMs`: ours, cross-checked with oathtool. */
function codeAt(secret: string, epochMs: number): string {
  const code = totpAt(secret, epochMs);
  if (!oathtoolMissing) assert.equal(oathtool(secret, epochMs), code, 'oathtool agrees');
  return code;
}

describe('the independent authenticator used by these tests', () => {
  test('matches the RFC 6238 SHA-1 test vectors', () => {
    // RFC 6238 Appendix B: the ASCII seed "12345678901234567890", 8 digits.
    const seed = Buffer.from('12345678901234567890', 'ascii');
    const vectors: [number, string][] = [
      [59, '94287082'],
      [1111111109, '07081804'],
      [1111111111, '14050471'],
      [1234567890, '89005924'],
      [2000000000, '69279037'],
      [20000000000, '65353130'],
    ];
    for (const [time, expected] of vectors)
      assert.equal(totpAt(bytesToBase32(seed), time * 1000, 8), expected, `T=${time}`);
    assert.equal(bytesToBase32(seed), 'GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ');
  });

  test('agrees with oathtool', { skip: oathtoolMissing }, () => {
    assert.equal(oathtool('GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ', 59_000), '287082');
    for (let index = 0; index < 5; index++) {
      const secret = bytesToBase32(randomBytes(20));
      const at = Date.UTC(2026, 10, 22) + index * 7_919_000;
      assert.equal(oathtool(secret, at), totpAt(secret, at));
    }
  });
});

for (const dialect of dialects()) {
  describe(`two-step login with an authenticator app (${dialect})`, () => {
    let env: TestEnv;
    let admin: TestUser;
    before(async () => {
      env = await createTestEnv({ dialect });
      admin = await createAdmin(env);
    });
    after(() => env.close());

    const mfaPath = (user: TestUser) => `/v2.0/users/${user.id}/RAX-AUTH/multi-factor`;

    async function addDevice(user: TestUser, name = 'phone app'): Promise<{ id: string; secret: string }> {
      const created = await env.request('POST', `${mfaPath(user)}/otp-devices`, {
        token: user.token,
        body: { 'RAX-AUTH:otpDevice': { name } },
      });
      assert.equal(created.status, 201, created.text);
      const device = created.body['RAX-AUTH:otpDevice'] as { id: string; keyUri: string; qrcode: string };
      // Scan the QR code as an app would, and take the secret from what it holds.
      const png = PNG.sync.read(Buffer.from(device.qrcode.split(',')[1] ?? '', 'base64'));
      const scanned = jsQR(new Uint8ClampedArray(png.data), png.width, png.height)?.data ?? '';
      assert.equal(scanned, device.keyUri);
      const secret = new URL(scanned).searchParams.get('secret') ?? '';
      assert.match(secret, /^[A-Z2-7]{32}$/);
      return { id: device.id, secret };
    }

    function verifyDevice(user: TestUser, deviceId: string, code: string): Promise<Response> {
      return env.request('POST', `${mfaPath(user)}/otp-devices/${deviceId}/verify`, {
        token: user.token,
        body: { 'RAX-AUTH:verificationCode': { code } },
      });
    }

    /** A new account owner with one verified authenticator and OTP MFA enabled. */
    async function otpUser(): Promise<{ user: TestUser; secret: string; verifiedWith: string }> {
      const user = await createAccount(env, admin);
      const { id, secret } = await addDevice(user);
      const verifiedWith = codeAt(secret, env.clock.now());
      assert.equal((await verifyDevice(user, id, verifiedWith)).status, 204);
      const enabled = await env.request('PUT', mfaPath(user), {
        token: user.token,
        body: { 'RAX-AUTH:multiFactor': { enabled: true } },
      });
      assert.equal(enabled.status, 204, enabled.text);
      return { user, secret, verifiedWith };
    }

    async function stepOne(user: TestUser): Promise<string> {
      const response = await passwordLogin(env, user.username, user.password);
      assert.equal(response.status, 401, response.text);
      return parseChallenge(response).sessionId;
    }

    function stepTwo(sessionId: string, passcode: string): Promise<Response> {
      return env.request('POST', '/v2.0/tokens', {
        headers: { 'X-SessionId': sessionId },
        body: { auth: { 'RAX-AUTH:passcodeCredentials': { passcode } } },
      });
    }

    test('the full two-step login: challenge, then passcode, gives an MFA token', async () => {
      const user = await createAccount(env, admin);
      const { id, secret } = await addDevice(user, 'my phone');
      assert.equal((await verifyDevice(user, id, codeAt(secret, env.clock.now()))).status, 204);
      const enabled = await env.request('PUT', mfaPath(user), {
        token: user.token,
        body: { 'RAX-AUTH:multiFactor': { enabled: true } },
      });
      assert.equal(enabled.status, 204, enabled.text);
      const stale = await env.request('GET', `/v2.0/users/${user.id}`, { token: user.token });
      assert.equal(stale.status, 401, 'enabling MFA revoked the password token');

      env.clock.advance(30_000);
      const challenge = await passwordLogin(env, user.username, user.password);
      assertFault(challenge, 401, 'unauthorized', Messages.challenge);
      assert.match(
        String(challenge.headers['www-authenticate']),
        /^OS-MF sessionId='[^']{22,}', factor='OTPPASSCODE'$/,
      );
      const { sessionId, factor } = parseChallenge(challenge);
      assert.equal(factor, 'OTPPASSCODE');

      const second = await stepTwo(sessionId, codeAt(secret, env.clock.now()));
      const access = accessOf(second);
      assert.deepEqual(access.token['RAX-AUTH:authenticatedBy'], ['OTPPASSCODE', 'PASSWORD']);
      assert.equal(access.user['RAX-AUTH:multiFactorEnabled'], true);
      assert.equal(access.user.id, user.id);
      const me = await env.request('GET', `/v2.0/users/${user.id}`, { token: access.token.id });
      assert.equal(me.status, 200);
      assert.equal(me.body.user?.['RAX-AUTH:factorType'], 'OTP');
    });

    test('the code that verified the device cannot complete a login', async () => {
      const { user, secret, verifiedWith } = await otpUser();
      const sessionId = await stepOne(user);
      assertFault(await stepTwo(sessionId, verifiedWith), 401, 'unauthorized', Messages.wrongPasscode);
      env.clock.advance(30_000);
      assert.equal((await stepTwo(sessionId, codeAt(secret, env.clock.now()))).status, 200);
    });

    test('a replayed TOTP code is refused', async () => {
      const { user, secret } = await otpUser();
      env.clock.advance(30_000);
      const code = codeAt(secret, env.clock.now());
      assert.equal((await stepTwo(await stepOne(user), code)).status, 200);
      assertFault(await stepTwo(await stepOne(user), code), 401, 'unauthorized', Messages.wrongPasscode);
      // An older code that is still inside the window is refused as well: steps only move forward.
      const previous = codeAt(secret, env.clock.now() - 30_000);
      assertFault(await stepTwo(await stepOne(user), previous), 401, 'unauthorized');
    });

    test('a code from one step either side is accepted and from two steps away refused', async () => {
      const { user, secret } = await otpUser();
      env.clock.advance(5 * 60_000);
      const now = env.clock.now();
      const at = (steps: number) => codeAt(secret, now + steps * 30_000);
      const near = new Set([-1, 0, 1].map(at));
      for (const steps of [-2, 2]) {
        if (near.has(at(steps))) continue; // the same six digits can recur; then the case proves nothing
        const refused = await stepTwo(await stepOne(user), at(steps));
        assertFault(refused, 401, 'unauthorized', Messages.wrongPasscode);
      }
      for (const steps of [-1, 0, 1]) {
        const accepted = await stepTwo(await stepOne(user), at(steps));
        assert.equal(accepted.status, 200, `a code ${steps} step(s) away: ${accepted.text}`);
      }
    });

    test('the window follows the injected clock to the millisecond', async () => {
      const { user, secret } = await otpUser();
      env.clock.advance(10 * 60_000);
      const first = Math.ceil(env.clock.now() / 30_000);
      const step = (n: number) => codeAt(secret, (first + n) * 30_000);
      // The last millisecond of the step before: the coming step's code is one ahead, accepted.
      env.clock.set(first * 30_000 - 1);
      assert.equal((await stepTwo(await stepOne(user), step(0))).status, 200);
      // The first millisecond of step 2: step 1's code is one behind, accepted.
      env.clock.set((first + 2) * 30_000);
      assert.equal((await stepTwo(await stepOne(user), step(1))).status, 200);
      // The last millisecond of step 4: step 2's unspent code is two behind and step 6's two
      // ahead; both refused (unless their digits happen to equal a code inside the window).
      env.clock.set((first + 5) * 30_000 - 1);
      const inside = new Set([step(3), step(4), step(5)]);
      for (const outside of [step(2), step(6)]) {
        if (inside.has(outside)) continue;
        assertFault(await stepTwo(await stepOne(user), outside), 401, 'unauthorized', Messages.wrongPasscode);
      }
    });

    test('only a verified device can answer the challenge', async () => {
      const { user, secret } = await otpUser();
      const login = await env.request('POST', '/v2.0/tokens', {
        body: {
          auth: { 'RAX-KSKEY:apiKeyCredentials': { username: user.username, apiKey: user.apiKey } },
        },
      });
      const keyToken = accessOf(login).token.id;
      const unverified = await addDevice({ ...user, token: keyToken }, 'spare');
      env.clock.advance(30_000);
      const sessionId = await stepOne(user);
      const spareCode = codeAt(unverified.secret, env.clock.now());
      if (spareCode !== codeAt(secret, env.clock.now())) {
        assertFault(await stepTwo(sessionId, spareCode), 401, 'unauthorized');
      }
      assert.equal((await stepTwo(sessionId, codeAt(secret, env.clock.now()))).status, 200);
    });

    test('the session id is spent by the successful second step', async () => {
      const { user, secret } = await otpUser();
      env.clock.advance(30_000);
      const sessionId = await stepOne(user);
      assert.equal((await stepTwo(sessionId, codeAt(secret, env.clock.now()))).status, 200);
      env.clock.advance(30_000);
      assertFault(
        await stepTwo(sessionId, codeAt(secret, env.clock.now())),
        401,
        'unauthorized',
        Messages.sessionRejected,
      );
    });
  });
}
