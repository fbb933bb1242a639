import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { COUNTRY_NOT_ALLOWED } from '../src/factors/sms/delivery.js';
import { PhoneMessages } from '../src/factors/sms/phones.js';
import { assertFault, HEX32, tokenOf } from './support/api.js';
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

const NUMBER = '+12015550123';

/**
 * A fresh number per use: the tests share one environment, and the SMS limits (5 per number per
 * 10 minutes) would otherwise join tests that have nothing to do with each other.
 */
let numberCounter = 1000;
function freshNumber(): string {
  numberCounter += 1;
  return `+1201555${numberCounter}`;
}

const mfaPath = (user: TestUser) => `/v2.0/users/${user.id}/RAX-AUTH/multi-factor`;
const phonesPath = (user: TestUser) => `${mfaPath(user)}/mobile-phones`;

interface Phone {
  id: string;
  number: string;
  verified: boolean;
}

function addPhone(env: TestEnv, user: TestUser, number: unknown = NUMBER, token = user.token) {
  return env.request('POST', phonesPath(user), {
    token,
    body: { 'RAX-AUTH:mobilePhone': { number } },
  });
}

function phoneOf(response: Response): Phone {
  return response.body['RAX-AUTH:mobilePhone'] as unknown as Phone;
}

async function addedPhone(env: TestEnv, user: TestUser, number = freshNumber()): Promise<Phone> {
  const response = await addPhone(env, user, number);
  assert.equal(response.status, 201, response.text);
  return phoneOf(response);
}

function sendPin(env: TestEnv, user: TestUser, phoneId: string, token = user.token) {
  return env.request('POST', `${phonesPath(user)}/${phoneId}/verificationcode`, { token });
}

function verify(env: TestEnv, user: TestUser, phoneId: string, code: unknown, token = user.token) {
  return env.request('POST', `${phonesPath(user)}/${phoneId}/verify`, {
    token,
    body: { 'RAX-AUTH:verificationCode': { code } },
  });
}

/** The PIN of the latest text sent (to `number`, when given). */
function lastPin(env: TestEnv, number?: string): string {
  const pin = /^Latchkey verification PIN: (\d{4})$/.exec(env.sms.last(number)?.body ?? '')?.[1];
  if (!pin) throw new Error(`no PIN sent to ${number ?? 'anyone'}`);
  return pin;
}

/** A 4-digit code that is not `pin`. */
const otherThan = (pin: string): string => (pin === '0000' ? '1111' : '0000');

async function verifiedPhone(env: TestEnv, user: TestUser, number = freshNumber()): Promise<Phone> {
  const phone = await addedPhone(env, user, number);
  assert.equal((await sendPin(env, user, phone.id)).status, 202);
  assert.equal((await verify(env, user, phone.id, lastPin(env, number))).status, 204);
  return { ...phone, verified: true };
}

/** SMS MFA on, over HTTP. It revokes the user's password-only token. */
async function enableSmsMfa(env: TestEnv, user: TestUser): Promise<void> {
  const response = await env.request('PUT', mfaPath(user), {
    token: user.token,
    body: { 'RAX-AUTH:multiFactor': { enabled: true } },
  });
  assert.equal(response.status, 204, `enable MFA: ${response.text}`);
}

async function phoneRow(env: TestEnv, phoneId: string) {
  return env.deps.db.selectFrom('mobile_phones').selectAll().where('id', '=', phoneId).executeTakeFirst();
}

/** The device events of a user, oldest first. */
async function eventTypes(env: TestEnv, userId: string): Promise<string[]> {
  const rows = await env.deps.db
    .selectFrom('security_events')
    .select(['type'])
    .where('user_id', '=', userId)
    .where('type', 'like', 'device.%')
    .orderBy('id')
    .execute();
  return rows.map((row) => row.type);
}

for (const dialect of dialects()) {
  describe(`mobile phones, reference 7.1-7.6 (${dialect})`, () => {
    let env: TestEnv;
    let admin: TestUser;
    before(async () => {
      env = await createTestEnv({ dialect });
      admin = await createAdmin(env);
    });
    after(() => env.close());

    test('adding a phone answers 201 with a Location and the number in E.164, unverified', async () => {
      const user = await createAccount(env, admin);
      const response = await addPhone(env, user, '+1 512-555-1000');
      assert.equal(response.status, 201, response.text);
      const phone = phoneOf(response);
      assert.match(phone.id, HEX32);
      assert.deepEqual(phone, { id: phone.id, number: '+15125551000', verified: false });
      assert.equal(response.headers.location, `${phonesPath(user)}/${phone.id}`);
      assert.deepEqual(Object.keys(response.body), ['RAX-AUTH:mobilePhone']);
      assert.deepEqual(await eventTypes(env, user.id), ['device.added']);
    });

    test('the phone is listed, listed under devices/, and read by id', async () => {
      const user = await createAccount(env, admin);
      const empty = await env.request('GET', phonesPath(user), { token: user.token });
      assert.equal(empty.status, 200);
      assert.deepEqual(empty.body, { 'RAX-AUTH:mobilePhones': [] });
      const phone = await addedPhone(env, user);
      const listed = await env.request('GET', phonesPath(user), { token: user.token });
      assert.deepEqual(listed.body, { 'RAX-AUTH:mobilePhones': [phone] });
      const alias = await env.request('GET', `${mfaPath(user)}/devices/mobile-phones`, { token: user.token });
      assert.equal(alias.status, 200);
      assert.deepEqual(alias.body, { 'RAX-AUTH:mobilePhones': [phone] });
      const one = await env.request('GET', `${phonesPath(user)}/${phone.id}`, { token: user.token });
      assert.equal(one.status, 200);
      assert.deepEqual(one.body, { 'RAX-AUTH:mobilePhone': phone });
    });

    test('an unknown phone id, or another user’s, is 404 Mobile phone not found', async () => {
      const user = await createAccount(env, admin);
      const other = await createAccount(env, admin);
      const theirs = await addedPhone(env, other);
      for (const id of ['0123456789abcdef0123456789abcdef', theirs.id]) {
        const response = await env.request('GET', `${phonesPath(user)}/${id}`, { token: user.token });
        assertFault(response, 404, 'itemNotFound', PhoneMessages.notFound);
      }
    });

    test('a missing number is 400 Must provide a telephone number', async () => {
      const user = await createAccount(env, admin);
      for (const body of [
        { 'RAX-AUTH:mobilePhone': {} },
        { 'RAX-AUTH:mobilePhone': { number: '' } },
        { 'RAX-AUTH:mobilePhone': { number: '   ' } },
        { 'RAX-AUTH:mobilePhone': { number: null } },
        {},
      ]) {
        const response = await env.request('POST', phonesPath(user), { token: user.token, body });
        assertFault(response, 400, 'badRequest', PhoneMessages.missingNumber);
      }
      const noBody = await env.request('POST', phonesPath(user), { token: user.token });
      assertFault(noBody, 400, 'badRequest', PhoneMessages.missingNumber);
    });

    test('a number the numbering plan rejects is 400 The provided phone number is invalid, with the E.164 form to use', async () => {
      const user = await createAccount(env, admin);
      for (const number of [
        'abc',
        '+44 42 1123 4567', // unassigned UK range
        '12015550123', // no country: international form only
        '+1 201 555 012', // too short
        '+999 123 4567', // no such country code
        '+1 (201) 555-0123 ext. 5', // an extension cannot take a text
        '+44 909 879 0000', // premium rate: the toll-fraud destination
        12015550123,
        'x'.repeat(100),
      ]) {
        const response = await addPhone(env, user, number);
        assertFault(response, 400, 'badRequest', PhoneMessages.invalidNumber);
        assert.match(
          String(response.body.badRequest?.message),
          /^The provided phone number is invalid\. .*country code.*\+15125550100/,
        );
      }
      assert.deepEqual(await eventTypes(env, user.id), []);
    });

    test('the same number again returns the existing phone; another number replaces it', async () => {
      const user = await createAccount(env, admin);
      const first = await verifiedPhone(env, user, '+12015550177');
      const again = await addPhone(env, user, '+1 (201) 555-0177');
      assert.equal(again.status, 201);
      assert.deepEqual(phoneOf(again), first);

      const replaced = await addedPhone(env, user, '+1 512 555 1000');
      assert.notEqual(replaced.id, first.id);
      assert.deepEqual(replaced, { id: replaced.id, number: '+15125551000', verified: false });
      const listed = await env.request('GET', phonesPath(user), { token: user.token });
      assert.deepEqual(listed.body, { 'RAX-AUTH:mobilePhones': [replaced] });
      const old = await env.request('GET', `${phonesPath(user)}/${first.id}`, { token: user.token });
      assert.equal(old.status, 404);
      const types = await eventTypes(env, user.id);
      assert.deepEqual(types.slice(-2), ['device.removed', 'device.added']);
    });

    test('with SMS MFA enabled the phone can be neither replaced nor removed', async () => {
      const user = await createAccount(env, admin);
      const number = freshNumber();
      const phone = await verifiedPhone(env, user, number);
      await enableSmsMfa(env, user);
      const replace = await addPhone(env, user, '+15125551000', admin.token);
      assertFault(replace, 400, 'badRequest', PhoneMessages.cannotReplace);
      const same = await addPhone(env, user, number, admin.token);
      assert.equal(same.status, 201);
      assert.deepEqual(phoneOf(same), phone);
      const remove = await env.request('DELETE', `${phonesPath(user)}/${phone.id}`, { token: admin.token });
      assertFault(remove, 400, 'badRequest', PhoneMessages.cannotDelete);
      const removeOnly = await env.request('DELETE', phonesPath(user), { token: admin.token });
      assertFault(removeOnly, 400, 'badRequest', PhoneMessages.cannotDelete);
      const listed = await env.request('GET', phonesPath(user), { token: admin.token });
      assert.deepEqual(listed.body, { 'RAX-AUTH:mobilePhones': [phone] });
    });

    test('with OTP as the factor the phone may still be replaced and removed', async () => {
      const user = await createAccount(env, admin);
      await verifiedPhone(env, user);
      await env.deps.db
        .updateTable('users')
        .set({ mfa_enabled: 1, factor_type: 'OTP' })
        .where('id', '=', user.id)
        .execute();
      const replaced = await addedPhone(env, user, '+15125551000');
      const removed = await env.request('DELETE', `${phonesPath(user)}/${replaced.id}`, {
        token: user.token,
      });
      assert.equal(removed.status, 204);
    });

    test('removing a phone answers 204; an unknown phone is 404', async () => {
      const user = await createAccount(env, admin);
      const phone = await addedPhone(env, user);
      const removed = await env.request('DELETE', `${phonesPath(user)}/${phone.id}`, { token: user.token });
      assert.equal(removed.status, 204);
      assert.equal(removed.text, '');
      const listed = await env.request('GET', phonesPath(user), { token: user.token });
      assert.deepEqual(listed.body, { 'RAX-AUTH:mobilePhones': [] });
      const again = await env.request('DELETE', `${phonesPath(user)}/${phone.id}`, { token: user.token });
      assertFault(again, 404, 'itemNotFound', PhoneMessages.notFound);
      assert.equal((await eventTypes(env, user.id)).at(-1), 'device.removed');
    });

    test('DELETE without an id removes the one phone (the documented form)', async () => {
      const user = await createAccount(env, admin);
      await addedPhone(env, user);
      assert.equal((await env.request('DELETE', phonesPath(user), { token: user.token })).status, 204);
      const none = await env.request('DELETE', phonesPath(user), { token: user.token });
      assertFault(none, 404, 'itemNotFound', PhoneMessages.notFound);
    });

    test('a verification PIN: 202 without a body, 4 digits by SMS, stored only as a keyed hash', async () => {
      const user = await createAccount(env, admin);
      const phone = await addedPhone(env, user);
      const before = env.sms.sent.length;
      const response = await sendPin(env, user, phone.id);
      assert.equal(response.status, 202);
      assert.equal(response.text, '');
      assert.equal(env.sms.sent.length, before + 1);
      const message = env.sms.last();
      assert.equal(message?.to, phone.number);
      const pin = lastPin(env);
      const row = await phoneRow(env, phone.id);
      assert.ok(row?.pin_hash);
      assert.match(row.pin_hash, /^[0-9a-f]{64}$/);
      assert.ok(!row.pin_hash.includes(pin));
      assert.equal(row.pin_expires_at, env.clock.now() + 10 * 60_000);
      assert.equal(row.pin_failed_count, 0);
    });

    test('the PIN verifies the phone: 204, then verified and the PIN gone', async () => {
      const user = await createAccount(env, admin);
      const phone = await addedPhone(env, user);
      await sendPin(env, user, phone.id);
      const response = await verify(env, user, phone.id, lastPin(env));
      assert.equal(response.status, 204, response.text);
      assert.equal(response.text, '');
      const shown = await env.request('GET', `${phonesPath(user)}/${phone.id}`, { token: user.token });
      assert.deepEqual(shown.body, { 'RAX-AUTH:mobilePhone': { ...phone, verified: true } });
      const row = await phoneRow(env, phone.id);
      assert.equal(row?.pin_hash, null);
      assert.equal(row?.pin_expires_at, null);
      assert.equal((await eventTypes(env, user.id)).at(-1), 'device.verified');

      const resend = await sendPin(env, user, phone.id);
      assertFault(resend, 400, 'badRequest', PhoneMessages.alreadyVerified);
      const reverify = await verify(env, user, phone.id, '1234');
      assertFault(reverify, 400, 'badRequest', PhoneMessages.alreadyVerified);
    });

    test('a PIN for a phone that is not the user’s is 404 The specified device is invalid', async () => {
      const user = await createAccount(env, admin);
      const other = await createAccount(env, admin);
      const theirs = await addedPhone(env, other);
      for (const id of [theirs.id, '0123456789abcdef0123456789abcdef']) {
        assertFault(await sendPin(env, user, id), 404, 'itemNotFound', PhoneMessages.invalidDevice);
        assertFault(await verify(env, user, id, '1234'), 404, 'itemNotFound', PhoneMessages.invalidDevice);
      }
    });

    test('a missing code is 400 Must provide a verification code', async () => {
      const user = await createAccount(env, admin);
      const phone = await addedPhone(env, user);
      await sendPin(env, user, phone.id);
      for (const body of [
        { 'RAX-AUTH:verificationCode': {} },
        { 'RAX-AUTH:verificationCode': { code: '' } },
        {},
      ]) {
        const response = await env.request('POST', `${phonesPath(user)}/${phone.id}/verify`, {
          token: user.token,
          body,
        });
        assertFault(response, 400, 'badRequest', PhoneMessages.missingCode);
      }
      const noBody = await env.request('POST', `${phonesPath(user)}/${phone.id}/verify`, {
        token: user.token,
      });
      assertFault(noBody, 400, 'badRequest', PhoneMessages.missingCode);
      // None of those spent a try.
      assert.equal((await phoneRow(env, phone.id))?.pin_failed_count, 0);
    });

    test('a wrong PIN, no PIN sent yet, or an expired PIN is 400 invalid or expired', async () => {
      const user = await createAccount(env, admin);
      const phone = await addedPhone(env, user);
      assertFault(await verify(env, user, phone.id, '1234'), 400, 'badRequest', PhoneMessages.badPin);
      await sendPin(env, user, phone.id);
      const pin = lastPin(env);
      assertFault(await verify(env, user, phone.id, otherThan(pin)), 400, 'badRequest', PhoneMessages.badPin);
      env.clock.advance(10 * 60_000);
      assertFault(await verify(env, user, phone.id, pin), 400, 'badRequest', PhoneMessages.badPin);
      assert.equal((await phoneRow(env, phone.id))?.verified, 0);
    });

    test('a PIN still works a moment before its 10 minutes are up', async () => {
      const user = await createAccount(env, admin);
      const phone = await addedPhone(env, user);
      await sendPin(env, user, phone.id);
      env.clock.advance(10 * 60_000 - 1);
      assert.equal((await verify(env, user, phone.id, lastPin(env))).status, 204);
    });

    test('a new PIN replaces the previous one', async () => {
      const user = await createAccount(env, admin);
      const phone = await addedPhone(env, user);
      await sendPin(env, user, phone.id);
      const first = lastPin(env);
      await sendPin(env, user, phone.id);
      const second = lastPin(env);
      if (first !== second) {
        assertFault(await verify(env, user, phone.id, first), 400, 'badRequest', PhoneMessages.badPin);
      }
      assert.equal((await verify(env, user, phone.id, second)).status, 204);
    });

    test('five wrong tries void the PIN, even for the right PIN afterwards; a new PIN starts afresh', async () => {
      const user = await createAccount(env, admin);
      const phone = await addedPhone(env, user);
      await sendPin(env, user, phone.id);
      const pin = lastPin(env);
      for (let attempt = 1; attempt <= 5; attempt++) {
        const response = await verify(env, user, phone.id, otherThan(pin));
        assertFault(response, 400, 'badRequest', PhoneMessages.badPin);
      }
      assertFault(await verify(env, user, phone.id, pin), 400, 'badRequest', PhoneMessages.badPin);
      assert.equal((await phoneRow(env, phone.id))?.pin_failed_count, 5);

      await sendPin(env, user, phone.id);
      assert.equal((await phoneRow(env, phone.id))?.pin_failed_count, 0);
      assert.equal((await verify(env, user, phone.id, lastPin(env))).status, 204);
    });

    test('four wrong tries still leave the fifth to the right PIN', async () => {
      const user = await createAccount(env, admin);
      const phone = await addedPhone(env, user);
      await sendPin(env, user, phone.id);
      const pin = lastPin(env);
      for (let attempt = 1; attempt <= 4; attempt++) await verify(env, user, phone.id, otherThan(pin));
      assert.equal((await verify(env, user, phone.id, pin)).status, 204);
    });

    test('40 concurrent wrong guesses: never more than five are judged', async () => {
      const user = await createAccount(env, admin);
      const phone = await addedPhone(env, user);
      await sendPin(env, user, phone.id);
      const pin = lastPin(env);
      const responses = await Promise.all(
        Array.from({ length: 40 }, () => verify(env, user, phone.id, otherThan(pin))),
      );
      for (const response of responses) assertFault(response, 400, 'badRequest', PhoneMessages.badPin);
      assert.equal((await phoneRow(env, phone.id))?.pin_failed_count, 5);
      assertFault(await verify(env, user, phone.id, pin), 400, 'badRequest', PhoneMessages.badPin);
    });

    test('the right PIN sent twice at once verifies once and records one event', async () => {
      const user = await createAccount(env, admin);
      const phone = await addedPhone(env, user);
      await sendPin(env, user, phone.id);
      const pin = lastPin(env);
      const responses = await Promise.all([1, 2, 3].map(() => verify(env, user, phone.id, pin)));
      assert.equal(responses.filter((response) => response.status === 204).length, 1);
      const verified = (await eventTypes(env, user.id)).filter((type) => type === 'device.verified');
      assert.equal(verified.length, 1);
    });

    test('access: self, precedence, otherwise 403; unknown user 404; no token 401', async () => {
      const owner = await createAccount(env, admin);
      const sub = await createUserVia(env, owner, 'sub');
      const stranger = await createAccount(env, admin);
      // The account owner and an administrator act on the sub-user, including the PIN flow.
      const byOwner = await addPhone(env, sub, freshNumber(), owner.token);
      assert.equal(byOwner.status, 201);
      const phone = phoneOf(byOwner);
      assert.equal((await sendPin(env, sub, phone.id, admin.token)).status, 202);
      assert.equal((await verify(env, sub, phone.id, lastPin(env), owner.token)).status, 204);
      // Not another account's owner, not the sub-user on its owner.
      assertFault(await addPhone(env, sub, NUMBER, stranger.token), 403, 'forbidden');
      const list = await env.request('GET', phonesPath(sub), { token: stranger.token });
      assertFault(list, 403, 'forbidden');
      assertFault(await addPhone(env, owner, NUMBER, sub.token), 403, 'forbidden');
      const ghost = { ...sub, id: '0123456789abcdef0123456789abcdef' };
      assertFault(await addPhone(env, ghost, NUMBER, admin.token), 404, 'itemNotFound');
      const anonymous = await env.request('GET', phonesPath(sub));
      assertFault(anonymous, 401, 'unauthorized');
    });

    test('a SETUP-MFA token sets up its own phone, and nobody else’s', async () => {
      const user = await createAccount(env, admin);
      const other = await createAccount(env, admin);
      await env.deps.db
        .updateTable('users')
        .set({ mfa_enforcement: 'REQUIRED' })
        .where('id', '=', user.id)
        .execute();
      const scoped = tokenOf(
        await env.request('POST', '/v2.0/tokens', {
          body: {
            auth: {
              'RAX-AUTH:scope': 'SETUP-MFA',
              passwordCredentials: { username: user.username, password: user.password },
            },
          },
        }),
      );
      const phone = phoneOf(await addPhone(env, user, freshNumber(), scoped));
      assert.equal((await sendPin(env, user, phone.id, scoped)).status, 202);
      assert.equal((await verify(env, user, phone.id, lastPin(env), scoped)).status, 204);
      assertFault(await addPhone(env, other, NUMBER, scoped), 403, 'forbidden');
    });

    test('a body that is not JSON is 415', async () => {
      const user = await createAccount(env, admin);
      const response = await env.request('POST', phonesPath(user), {
        token: user.token,
        body: 'number=+12015550123',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
      });
      assertFault(response, 415, 'unsupportedMediaType');
    });
  });

  describe(`mobile phones with a country allow-list (${dialect})`, () => {
    let env: TestEnv;
    let admin: TestUser;
    before(async () => {
      env = await createTestEnv({ dialect, env: { LATCHKEY_SMS_ALLOWED_COUNTRIES: 'US,CA' } });
      admin = await createAdmin(env);
    });
    after(() => env.close());

    test('a number in a country not allowed is refused when added', async () => {
      const user = await createAccount(env, admin);
      assertFault(await addPhone(env, user, '+33 6 12 34 56 78'), 400, 'badRequest', COUNTRY_NOT_ALLOWED);
      assert.equal((await addPhone(env, user, '+1 416 555 0199')).status, 201);
      assert.equal((await addPhone(env, user, NUMBER)).status, 201);
    });
  });
}
