import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import jsQRModule from 'jsqr';
import { PNG } from 'pngjs';
import { randomHex } from '../src/crypto/random.js';
import { OtpMessages } from '../src/factors/totp/devices.js';
import { CONTROL_CHARACTERS_MESSAGE } from '../src/http/faults.js';
import { apiKeyLogin, assertFault, HEX32, tokenOf } from './support/api.js';
import {
  createAccount,
  createAdmin,
  createTestEnv,
  createUserVia,
  dialects,
  type Response,
  type TestEnv,
  type TestUser,
} from './support/harness.js';
import { secretOf, totpAt } from './support/mfa.js';
import { requireTool } from './support/tools.js';

interface CreatedDevice {
  id: string;
  name: string;
  keyUri: string;
  qrcode: string;
  verified: boolean;
}

// jsqr is CommonJS whose typings declare an ES default export; under NodeNext the default import
// is module.exports, which is the decoder itself and also carries it as `.default`.
const jsQR = (jsQRModule as unknown as { default: typeof jsQRModule.default }).default;

const mfaPath = (userId: string) => `/v2.0/users/${userId}/RAX-AUTH/multi-factor`;
const ZBARIMG = '/usr/bin/zbarimg';

function addDevice(env: TestEnv, userId: string, token: string, body: unknown): Promise<Response> {
  return env.request('POST', `${mfaPath(userId)}/otp-devices`, { token, body });
}

async function newDevice(env: TestEnv, user: TestUser, name = 'phone app', token = user.token) {
  const response = await addDevice(env, user.id, token, { 'RAX-AUTH:otpDevice': { name } });
  assert.equal(response.status, 201, response.text);
  return response.body['RAX-AUTH:otpDevice'] as unknown as CreatedDevice;
}

function verify(env: TestEnv, user: TestUser, deviceId: string, code: unknown, token = user.token) {
  return env.request('POST', `${mfaPath(user.id)}/otp-devices/${deviceId}/verify`, {
    token,
    body: { 'RAX-AUTH:verificationCode': { code } },
  });
}

function pngOf(dataUri: string): PNG {
  const prefix = 'data:image/png;base64,';
  assert.ok(dataUri.startsWith(prefix), dataUri.slice(0, 40));
  return PNG.sync.read(Buffer.from(dataUri.slice(prefix.length), 'base64'));
}

for (const dialect of dialects()) {
  describe(`authenticator apps (${dialect})`, () => {
    let env: TestEnv;
    let admin: TestUser;
    before(async () => {
      env = await createTestEnv({ dialect });
      admin = await createAdmin(env);
    });
    after(() => env.close());

    /** An account owner whose management calls use an API-key token, which enabling MFA keeps. */
    async function owner(): Promise<TestUser> {
      const user = await createAccount(env, admin);
      user.token = tokenOf(await apiKeyLogin(env, user.username, user.apiKey));
      return user;
    }

    async function enableMfa(user: TestUser, token = user.token): Promise<void> {
      const put = await env.request('PUT', mfaPath(user.id), {
        token,
        body: { 'RAX-AUTH:multiFactor': { enabled: true } },
      });
      assert.equal(put.status, 204, put.text);
    }

    async function verifiedDevice(user: TestUser, name = 'phone app'): Promise<CreatedDevice> {
      const device = await newDevice(env, user, name);
      const verified = await verify(env, user, device.id, totpAt(secretOf(device.keyUri), env.clock.now()));
      assert.equal(verified.status, 204, verified.text);
      return device;
    }

    test('adding a device answers 201 with its location, key URI, QR code and verified false', async () => {
      const user = await owner();
      const response = await addDevice(env, user.id, user.token, {
        'RAX-AUTH:otpDevice': { name: 'my phone' },
      });
      assert.equal(response.status, 201, response.text);
      const device = response.body['RAX-AUTH:otpDevice'] as unknown as CreatedDevice;
      assert.deepEqual(Object.keys(device).sort(), ['id', 'keyUri', 'name', 'qrcode', 'verified']);
      assert.match(device.id, HEX32);
      assert.equal(device.name, 'my phone');
      assert.equal(device.verified, false);
      assert.equal(
        response.headers.location,
        `/v2.0/users/${user.id}/RAX-AUTH/multi-factor/otp-devices/${device.id}`,
      );
      assert.match(
        device.keyUri,
        /^otpauth:\/\/totp\/Latchkey:my%20phone\?secret=[A-Z2-7]{32}&issuer=Latchkey$/,
        '20-byte secret, 32 base32 characters, the name URI-encoded',
      );
      assert.match(device.qrcode, /^data:image\/png;base64,[A-Za-z0-9+/]+=*$/);
      const location = await env.request('GET', String(response.headers.location), { token: user.token });
      assert.equal(location.status, 200);
    });

    test('the QR code decodes to the key URI with a real decoder', async () => {
      const user = await owner();
      const device = await newDevice(env, user, 'Pixel 8: work');
      const png = pngOf(device.qrcode);
      assert.ok(png.width >= 200, `a scannable size, got ${png.width}px`);
      const decoded = jsQR(new Uint8ClampedArray(png.data), png.width, png.height);
      assert.equal(decoded?.data, device.keyUri);
    });

    test('zbarimg reads the same key URI from the QR code', {
      skip: requireTool('zbarimg'),
    }, async () => {
      const user = await owner();
      const device = await newDevice(env, user, 'zbar check');
      const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'latchkey-qr-')), 'code.png');
      fs.writeFileSync(file, Buffer.from(device.qrcode.split(',')[1] ?? '', 'base64'));
      const output = execFileSync(ZBARIMG, ['--quiet', '--raw', file], {
        encoding: 'utf8',
        // zbarimg complains on stderr about a missing D-Bus, which does not matter here.
        stdio: ['ignore', 'pipe', 'ignore'],
      }).trim();
      assert.equal(output, device.keyUri);
      fs.rmSync(path.dirname(file), { recursive: true, force: true });
    });

    test('the secret is stored encrypted and never shown again', async () => {
      const user = await owner();
      const device = await newDevice(env, user);
      const secret = secretOf(device.keyUri);
      const row = await env.deps.db
        .selectFrom('otp_devices')
        .selectAll()
        .where('id', '=', device.id)
        .executeTakeFirstOrThrow();
      assert.ok(!row.secret_enc.includes(secret), 'no plaintext secret at rest');
      for (const url of [
        `${mfaPath(user.id)}/otp-devices`,
        `${mfaPath(user.id)}/otp-devices/${device.id}`,
        `${mfaPath(user.id)}/devices/otp-devices`,
        `${mfaPath(user.id)}/devices`,
      ]) {
        const response = await env.request('GET', url, { token: user.token });
        assert.equal(response.status, 200, `${url}: ${response.text}`);
        assert.ok(!response.text.includes(secret), `${url} shows no secret`);
        assert.ok(!response.text.includes('keyUri') && !response.text.includes('qrcode'), url);
      }
      const events = await env.deps.db
        .selectFrom('security_events')
        .select(['type', 'detail'])
        .where('user_id', '=', user.id)
        .execute();
      assert.ok(events.some((event) => event.type === 'device.added'));
      assert.ok(
        events.every((event) => !event.detail.includes(secret)),
        'no secret in an event',
      );
      assert.ok(
        env.logs.every((line) => !line.includes(secret)),
        'no secret in the log',
      );
    });

    test('the issuer comes from LATCHKEY_OTP_ISSUER', async () => {
      const other = await createTestEnv({ dialect, env: { LATCHKEY_OTP_ISSUER: 'Acme Cloud' } });
      try {
        const user = await createAccount(other, await createAdmin(other));
        const response = await addDevice(other, user.id, user.token, { 'RAX-AUTH:otpDevice': { name: 'x' } });
        const device = response.body['RAX-AUTH:otpDevice'] as unknown as CreatedDevice;
        assert.match(
          device.keyUri,
          /^otpauth:\/\/totp\/Acme%20Cloud:x\?secret=[A-Z2-7]{32}&issuer=Acme%20Cloud$/,
        );
      } finally {
        await other.close();
      }
    });

    test('a device without a name is refused with the reference message', async () => {
      const user = await owner();
      for (const body of [
        { 'RAX-AUTH:otpDevice': { name: '' } },
        { 'RAX-AUTH:otpDevice': { name: '   ' } },
        { 'RAX-AUTH:otpDevice': { name: null } },
        { 'RAX-AUTH:otpDevice': {} },
        {},
      ]) {
        assertFault(
          await addDevice(env, user.id, user.token, body),
          400,
          'badRequest',
          OtpMessages.nameMissing,
        );
      }
      const bodiless = await env.request('POST', `${mfaPath(user.id)}/otp-devices`, { token: user.token });
      assertFault(bodiless, 400, 'badRequest', OtpMessages.nameMissing);
      const tooLong = await addDevice(env, user.id, user.token, {
        'RAX-AUTH:otpDevice': { name: 'x'.repeat(256) },
      });
      assertFault(tooLong, 400, 'badRequest', OtpMessages.nameTooLong);
      const wrongType = await addDevice(env, user.id, user.token, { 'RAX-AUTH:otpDevice': { name: 42 } });
      assertFault(wrongType, 400, 'badRequest');
    });

    test('a name that cannot travel in a key URI is refused, never a server error', async () => {
      const user = await owner();
      for (const name of ['tab\u0000let', 'line\nbreak', '\ud800lone', 'lone\udc00']) {
        const response = await addDevice(env, user.id, user.token, { 'RAX-AUTH:otpDevice': { name } });
        // Refused at the edge, like a control character in any other field.
        assertFault(response, 400, 'badRequest', CONTROL_CHARACTERS_MESSAGE);
      }
      // 200 characters fit the column, but URI-encoded they would not fit a QR code.
      const wide = await addDevice(env, user.id, user.token, {
        'RAX-AUTH:otpDevice': { name: '鍵'.repeat(200) },
      });
      assertFault(wide, 400, 'badRequest', OtpMessages.nameTooLong);
      const fits = await newDevice(env, user, `${'鍵'.repeat(100)} 😀`);
      const png = pngOf(fits.qrcode);
      assert.equal(jsQR(new Uint8ClampedArray(png.data), png.width, png.height)?.data, fits.keyUri);
      assert.equal(fits.name, `${'鍵'.repeat(100)} 😀`);
    });

    test('a sixth device is refused', async () => {
      const user = await owner();
      for (let index = 1; index <= 5; index++) await newDevice(env, user, `device ${index}`);
      const sixth = await addDevice(env, user.id, user.token, { 'RAX-AUTH:otpDevice': { name: 'six' } });
      assertFault(sixth, 400, 'badRequest', OtpMessages.tooMany);
    });

    test('concurrent additions never pass the limit of five', async () => {
      const user = await owner();
      const responses = await Promise.all(
        Array.from({ length: 8 }, (_, index) =>
          addDevice(env, user.id, user.token, { 'RAX-AUTH:otpDevice': { name: `racer ${index}` } }),
        ),
      );
      assert.equal(responses.filter((response) => response.status === 201).length, 5);
      assert.equal(responses.filter((response) => response.status === 400).length, 3);
      const list = await env.request('GET', `${mfaPath(user.id)}/otp-devices`, { token: user.token });
      assert.equal((list.body['RAX-AUTH:otpDevices'] as unknown as unknown[]).length, 5);
    });

    test('devices are listed with id, name and verified, also under devices/otp-devices', async () => {
      const user = await owner();
      const first = await verifiedDevice(user, 'first');
      // Listed in order of creation (devices made in the same millisecond go by id).
      env.clock.advance(1000);
      const second = await newDevice(env, user, 'second');
      const expected = [
        { id: first.id, name: 'first', verified: true },
        { id: second.id, name: 'second', verified: false },
      ];
      const list = await env.request('GET', `${mfaPath(user.id)}/otp-devices`, { token: user.token });
      assert.equal(list.status, 200);
      assert.deepEqual(list.body, { 'RAX-AUTH:otpDevices': expected });
      const alias = await env.request('GET', `${mfaPath(user.id)}/devices/otp-devices`, {
        token: user.token,
      });
      assert.deepEqual(alias.body, list.body);
      const one = await env.request('GET', `${mfaPath(user.id)}/otp-devices/${first.id}`, {
        token: user.token,
      });
      assert.deepEqual(one.body, { 'RAX-AUTH:otpDevice': expected[0] });
      const empty = await owner();
      const none = await env.request('GET', `${mfaPath(empty.id)}/otp-devices`, { token: empty.token });
      assert.deepEqual(none.body, { 'RAX-AUTH:otpDevices': [] });
    });

    test('an unknown device, or another user’s, is not found', async () => {
      const user = await owner();
      const stranger = await owner();
      const theirs = await newDevice(env, stranger);
      for (const id of [randomHex(), theirs.id]) {
        const get = await env.request('GET', `${mfaPath(user.id)}/otp-devices/${id}`, { token: user.token });
        assertFault(get, 404, 'itemNotFound', OtpMessages.notFound);
        assertFault(await verify(env, user, id, '123456'), 404, 'itemNotFound', OtpMessages.notFound);
        const del = await env.request('DELETE', `${mfaPath(user.id)}/otp-devices/${id}`, {
          token: user.token,
        });
        assertFault(del, 404, 'itemNotFound', OtpMessages.deleteNotFound);
      }
    });

    test('all devices of a user are listed together, phones and authenticators', async () => {
      const user = await owner();
      const empty = await env.request('GET', `${mfaPath(user.id)}/devices`, { token: user.token });
      assert.deepEqual(empty.body, { 'RAX-AUTH:multiFactorDevices': { mobilePhones: [], otpDevices: [] } });
      const device = await newDevice(env, user, 'tablet');
      const phoneId = randomHex();
      await env.deps.db
        .insertInto('mobile_phones')
        .values({
          id: phoneId,
          user_id: user.id,
          number: '+12015550123',
          verified: 1,
          pin_hash: null,
          pin_expires_at: null,
          pin_failed_count: 0,
          created_at: env.clock.now(),
        })
        .execute();
      const all = await env.request('GET', `${mfaPath(user.id)}/devices`, { token: user.token });
      assert.equal(all.status, 200);
      assert.deepEqual(all.body, {
        'RAX-AUTH:multiFactorDevices': {
          mobilePhones: [{ id: phoneId, number: '+12015550123', verified: true }],
          otpDevices: [{ id: device.id, name: 'tablet', verified: false }],
        },
      });
    });

    test('a device is verified with a current code, once', async () => {
      const user = await owner();
      const device = await newDevice(env, user);
      const secret = secretOf(device.keyUri);
      const verified = await verify(env, user, device.id, totpAt(secret, env.clock.now()));
      assert.equal(verified.status, 204, verified.text);
      assert.equal(verified.text, '');
      const shown = await env.request('GET', `${mfaPath(user.id)}/otp-devices/${device.id}`, {
        token: user.token,
      });
      assert.equal((shown.body['RAX-AUTH:otpDevice'] as { verified: boolean }).verified, true);
      env.clock.advance(30_000);
      const again = await verify(env, user, device.id, totpAt(secret, env.clock.now()));
      assertFault(again, 400, 'badRequest', OtpMessages.alreadyVerified);
      // Verifying neither enables MFA nor picks a factor (reference §7.8).
      const me = await env.request('GET', `/v2.0/users/${user.id}`, { token: user.token });
      assert.equal(me.body.user?.['RAX-AUTH:multiFactorEnabled'], false);
      const events = await env.deps.db
        .selectFrom('security_events')
        .select(['type', 'detail'])
        .where('user_id', '=', user.id)
        .where('type', '=', 'device.verified')
        .execute();
      assert.equal(events.length, 1);
      assert.equal((JSON.parse(events[0]?.detail ?? '{}') as { deviceId: string }).deviceId, device.id);
    });

    test('a wrong, malformed or missing code does not verify a device', async () => {
      const user = await owner();
      const device = await newDevice(env, user);
      const secret = secretOf(device.keyUri);
      const now = env.clock.now();
      const near = new Set([-1, 0, 1].map((offset) => totpAt(secret, now + offset * 30_000)));
      const wrong = ['000000', '111111', '222222'].find((code) => !near.has(code)) ?? '333333';
      for (const code of [wrong, '12345', '1234567', 'abcdef', totpAt(secret, now).replace(/./g, 'x')]) {
        assertFault(
          await verify(env, user, device.id, code),
          400,
          'badRequest',
          'The provided pin is either invalid or expired.',
        );
      }
      for (const body of [
        { 'RAX-AUTH:verificationCode': { code: '' } },
        { 'RAX-AUTH:verificationCode': {} },
        {},
      ]) {
        const response = await env.request('POST', `${mfaPath(user.id)}/otp-devices/${device.id}/verify`, {
          token: user.token,
          body,
        });
        assertFault(response, 400, 'badRequest', OtpMessages.codeMissing);
      }
      const list = await env.request('GET', `${mfaPath(user.id)}/otp-devices/${device.id}`, {
        token: user.token,
      });
      assert.equal((list.body['RAX-AUTH:otpDevice'] as { verified: boolean }).verified, false);
    });

    test('codes one step either side are accepted and two steps away are refused', async () => {
      const user = await owner();
      for (const [offset, status] of [
        [-2, 400],
        [-1, 204],
        [0, 204],
        [1, 204],
        [2, 400],
      ] as const) {
        const device = await newDevice(env, user, `offset ${offset}`);
        const code = totpAt(secretOf(device.keyUri), env.clock.now() + offset * 30_000);
        const response = await verify(env, user, device.id, code);
        assert.equal(response.status, status, `a code ${offset} step(s) away: ${response.text}`);
      }
    });

    test('a code submitted twice at once verifies the device only once', async () => {
      const user = await owner();
      const device = await newDevice(env, user);
      const code = totpAt(secretOf(device.keyUri), env.clock.now());
      const responses = await Promise.all([1, 2, 3].map(() => verify(env, user, device.id, code)));
      assert.equal(responses.filter((response) => response.status === 204).length, 1);
      assert.equal(responses.filter((response) => response.status === 400).length, 2);
      const events = await env.deps.db
        .selectFrom('security_events')
        .select('id')
        .where('user_id', '=', user.id)
        .where('type', '=', 'device.verified')
        .execute();
      assert.equal(events.length, 1);
    });

    test('a device is deleted with 204 and a removal event', async () => {
      const user = await owner();
      const device = await newDevice(env, user);
      const del = await env.request('DELETE', `${mfaPath(user.id)}/otp-devices/${device.id}`, {
        token: user.token,
      });
      assert.equal(del.status, 204, del.text);
      const get = await env.request('GET', `${mfaPath(user.id)}/otp-devices/${device.id}`, {
        token: user.token,
      });
      assert.equal(get.status, 404);
      const events = await env.deps.db
        .selectFrom('security_events')
        .select('type')
        .where('user_id', '=', user.id)
        .where('type', '=', 'device.removed')
        .execute();
      assert.equal(events.length, 1);
    });

    test('the last verified device cannot be deleted while OTP MFA is on', async () => {
      const user = await owner();
      const first = await verifiedDevice(user, 'first');
      env.clock.advance(30_000);
      const second = await verifiedDevice(user, 'second');
      const unverified = await newDevice(env, user, 'unverified');
      await enableMfa(user);
      const remove = (id: string) =>
        env.request('DELETE', `${mfaPath(user.id)}/otp-devices/${id}`, { token: user.token });
      assert.equal((await remove(unverified.id)).status, 204, 'an unverified device may always go');
      assert.equal((await remove(first.id)).status, 204, 'another verified device remains');
      assertFault(await remove(second.id), 400, 'badRequest', OtpMessages.lastVerified);
      // Once MFA is off it may go.
      const off = await env.request('PUT', mfaPath(user.id), {
        token: user.token,
        body: { 'RAX-AUTH:multiFactor': { enabled: false } },
      });
      assert.equal(off.status, 204);
      assert.equal((await remove(second.id)).status, 204);
    });

    test('the last verified device may go while MFA is on with SMS', async () => {
      const user = await owner();
      const device = await verifiedDevice(user);
      await env.deps.db
        .insertInto('mobile_phones')
        .values({
          id: randomHex(),
          user_id: user.id,
          number: '+12015550199',
          verified: 1,
          pin_hash: null,
          pin_expires_at: null,
          pin_failed_count: 0,
          created_at: env.clock.now(),
        })
        .execute();
      const put = await env.request('PUT', mfaPath(user.id), {
        token: user.token,
        body: { 'RAX-AUTH:multiFactor': { enabled: true, factorType: 'SMS' } },
      });
      assert.equal(put.status, 204, put.text);
      const del = await env.request('DELETE', `${mfaPath(user.id)}/otp-devices/${device.id}`, {
        token: user.token,
      });
      assert.equal(del.status, 204, del.text);
    });

    test('who may manage whose devices: self, precedence, and nobody else', async () => {
      const account = await owner();
      const member = await createUserVia(env, account, 'member');
      const otherAccount = await owner();
      const base = (user: TestUser) => `${mfaPath(user.id)}/otp-devices`;

      const noToken = await env.request('GET', base(account));
      assertFault(noToken, 401, 'unauthorized');
      const unknown = await env.request('GET', `${mfaPath(randomHex())}/otp-devices`, { token: admin.token });
      assertFault(unknown, 404, 'itemNotFound');
      assertFault(await env.request('GET', base(account), { token: member.token }), 403, 'forbidden');
      assertFault(await env.request('GET', base(account), { token: otherAccount.token }), 403, 'forbidden');
      assertFault(
        await addDevice(env, member.id, otherAccount.token, { 'RAX-AUTH:otpDevice': { name: 'x' } }),
        403,
        'forbidden',
      );

      // The account owner and an identity:admin act on the member by precedence.
      const byOwner = await addDevice(env, member.id, account.token, { 'RAX-AUTH:otpDevice': { name: 'o' } });
      assert.equal(byOwner.status, 201, byOwner.text);
      const byAdmin = await env.request('GET', base(member), { token: admin.token });
      assert.equal(byAdmin.status, 200);
      assert.equal((byAdmin.body['RAX-AUTH:otpDevices'] as unknown as unknown[]).length, 1);
      const actor = await env.deps.db
        .selectFrom('security_events')
        .select(['actor_id', 'user_id'])
        .where('type', '=', 'device.added')
        .where('user_id', '=', member.id)
        .executeTakeFirstOrThrow();
      assert.deepEqual(actor, { actor_id: account.id, user_id: member.id });
    });
  });
}
