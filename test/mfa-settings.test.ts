import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, test } from 'node:test';
import { Messages } from '../src/core/errors.js';
import { randomHex } from '../src/crypto/random.js';
import { SettingsMessages } from '../src/factors/settings.js';
import { apiKeyLogin, assertFault, createUserManager, tokenOf, userOf } from './support/api.js';
import {
  createAccount,
  createAdmin,
  createTestEnv,
  createUserVia,
  dialects,
  passwordLogin,
  type Response,
  type TestEnv,
  type TestUser,
} from './support/harness.js';
import { enableOtp, secretOf, totpAt } from './support/mfa.js';

const mfaPath = (userId: string) => `/v2.0/users/${userId}/RAX-AUTH/multi-factor`;
const settings = (body: Record<string, unknown>) => ({ 'RAX-AUTH:multiFactor': body });

for (const dialect of dialects()) {
  describe(`multi-factor settings (${dialect})`, () => {
    let env: TestEnv;
    let admin: TestUser;
    before(async () => {
      env = await createTestEnv({ dialect });
      admin = await createAdmin(env);
    });
    after(() => env.close());
    beforeEach(async () => {
      // Some tests move the clock; every test starts with a live administrator token.
      admin.token = tokenOf(await passwordLogin(env, admin.username));
      env.clock.advance(60_000);
    });

    function put(user: TestUser, body: unknown, token = user.token): Promise<Response> {
      return env.request('PUT', mfaPath(user.id), { token, body });
    }

    /** A token that enabling MFA does not revoke (API-key login skips MFA, reference §4.2). */
    async function apiKeyToken(user: TestUser): Promise<string> {
      return tokenOf(await apiKeyLogin(env, user.username, user.apiKey));
    }

    async function owner(): Promise<TestUser> {
      const user = await createAccount(env, admin);
      user.token = await apiKeyToken(user);
      return user;
    }

    async function otpDevice(user: TestUser, verified: boolean): Promise<string> {
      const created = await env.request('POST', `${mfaPath(user.id)}/otp-devices`, {
        token: user.token,
        body: { 'RAX-AUTH:otpDevice': { name: 'app' } },
      });
      assert.equal(created.status, 201, created.text);
      const device = created.body['RAX-AUTH:otpDevice'] as { id: string; keyUri: string };
      if (verified) {
        const response = await env.request('POST', `${mfaPath(user.id)}/otp-devices/${device.id}/verify`, {
          token: user.token,
          body: { 'RAX-AUTH:verificationCode': { code: totpAt(secretOf(device.keyUri), env.clock.now()) } },
        });
        assert.equal(response.status, 204, response.text);
      }
      return device.id;
    }

    /** Phones belong to another part of the API; here one is put straight into the store. */
    async function phone(user: TestUser, verified: boolean): Promise<void> {
      await env.deps.db
        .insertInto('mobile_phones')
        .values({
          id: randomHex(),
          user_id: user.id,
          number: '+12015550123',
          verified: verified ? 1 : 0,
          pin_hash: null,
          pin_expires_at: null,
          pin_failed_count: 0,
          created_at: env.clock.now(),
        })
        .execute();
    }

    async function shown(user: TestUser): Promise<Record<string, unknown>> {
      const response = await env.request('GET', `/v2.0/users/${user.id}`, { token: admin.token });
      assert.equal(response.status, 200, response.text);
      return userOf(response);
    }

    async function events(user: TestUser, type: string): Promise<Record<string, unknown>[]> {
      const rows = await env.deps.db
        .selectFrom('security_events')
        .select(['actor_id', 'detail'])
        .where('user_id', '=', user.id)
        .where('type', '=', type)
        .orderBy('id')
        .execute();
      return rows.map((row) => ({ actor: row.actor_id, ...(JSON.parse(row.detail) as object) }));
    }

    async function tokenWorks(user: TestUser, token: string): Promise<boolean> {
      const response = await env.request('GET', `/v2.0/users/${user.id}`, { token });
      assert.ok([200, 401].includes(response.status), response.text);
      return response.status === 200;
    }

    test('a missing or empty settings body is refused', async () => {
      const user = await owner();
      assertFault(
        await env.request('PUT', mfaPath(user.id), { token: user.token }),
        400,
        'badRequest',
        SettingsMessages.missing,
      );
      for (const body of [{}, { 'RAX-AUTH:multiFactor': null }, settings({}), settings({ enabled: null })]) {
        assertFault(await put(user, body), 400, 'badRequest', SettingsMessages.missing);
      }
    });

    test('two categories in one request are refused with the first one’s message', async () => {
      const user = await owner();
      const cases: [Record<string, unknown>, string][] = [
        [{ enabled: true, unlock: true }, SettingsMessages.mixedWhileEnabling],
        [{ enabled: true, userMultiFactorEnforcementLevel: 'REQUIRED' }, SettingsMessages.mixedWhileEnabling],
        [{ enabled: false, factorType: 'OTP' }, SettingsMessages.mixedWhileDisabling],
        [{ enabled: false, unlock: true }, SettingsMessages.mixedWhileDisabling],
        [{ unlock: true, userMultiFactorEnforcementLevel: 'OPTIONAL' }, SettingsMessages.mixedWhileUnlocking],
        [{ unlock: true, factorType: 'SMS' }, SettingsMessages.mixedWhileUnlocking],
        [
          { userMultiFactorEnforcementLevel: 'OPTIONAL', factorType: 'OTP' },
          SettingsMessages.mixedWhileSettingLevel,
        ],
      ];
      for (const [body, message] of cases) {
        assertFault(await put(user, settings(body), admin.token), 400, 'badRequest', message);
      }
    });

    test('bad values are refused', async () => {
      const user = await owner();
      assertFault(
        await put(user, settings({ enabled: true, factorType: 'PUSH' })),
        400,
        'badRequest',
        SettingsMessages.badFactorType,
      );
      assertFault(
        await put(user, settings({ factorType: 'sms' })),
        400,
        'badRequest',
        SettingsMessages.badFactorType,
      );
      assertFault(
        await put(user, settings({ userMultiFactorEnforcementLevel: 'SOMETIMES' })),
        400,
        'badRequest',
        SettingsMessages.badLevel,
      );
      assertFault(await put(user, settings({ enabled: 'yes' })), 400, 'badRequest');
      assertFault(await put(user, settings({ unlock: 'true' })), 400, 'badRequest');
    });

    test('enabling needs a verified device', async () => {
      const user = await owner();
      assertFault(await put(user, settings({ enabled: true })), 400, 'badRequest', SettingsMessages.noDevice);
      await otpDevice(user, false);
      assertFault(
        await put(user, settings({ enabled: true })),
        400,
        'badRequest',
        SettingsMessages.deviceNotVerified,
      );
      const withPhone = await owner();
      await phone(withPhone, false);
      assertFault(
        await put(withPhone, settings({ enabled: true })),
        400,
        'badRequest',
        SettingsMessages.deviceNotVerified,
      );
      assert.equal((await shown(user))['RAX-AUTH:multiFactorEnabled'], false);
    });

    test('enabling picks the only verified factor and shows it on the user', async () => {
      const otpUser = await owner();
      await otpDevice(otpUser, true);
      const response = await put(otpUser, settings({ enabled: true }));
      assert.equal(response.status, 204, response.text);
      assert.equal(response.text, '');
      const body = await shown(otpUser);
      assert.equal(body['RAX-AUTH:multiFactorEnabled'], true);
      assert.equal(body['RAX-AUTH:factorType'], 'OTP');
      assert.equal(body['RAX-AUTH:multiFactorState'], 'ACTIVE');
      assert.deepEqual(
        (await events(otpUser, 'mfa.enabled')).map(({ actor, factorType }) => ({ actor, factorType })),
        [{ actor: otpUser.id, factorType: 'OTP' }],
      );

      const smsUser = await owner();
      await phone(smsUser, true);
      assert.equal((await put(smsUser, settings({ enabled: true }))).status, 204);
      assert.equal((await shown(smsUser))['RAX-AUTH:factorType'], 'SMS');
    });

    test('with both kinds verified the factor type must be named', async () => {
      const user = await owner();
      await otpDevice(user, true);
      await phone(user, true);
      assertFault(
        await put(user, settings({ enabled: true })),
        400,
        'badRequest',
        SettingsMessages.mustSpecifyFactor,
      );
      assert.equal((await put(user, settings({ enabled: true, factorType: 'SMS' }))).status, 204);
      assert.equal((await shown(user))['RAX-AUTH:factorType'], 'SMS');
    });

    test('a named factor type needs a verified device of that type', async () => {
      const user = await owner();
      await phone(user, true);
      await otpDevice(user, false);
      assertFault(
        await put(user, settings({ enabled: true, factorType: 'OTP' })),
        400,
        'badRequest',
        SettingsMessages.noVerifiedOtp,
      );
      const other = await owner();
      await otpDevice(other, true);
      assertFault(
        await put(other, settings({ enabled: true, factorType: 'SMS' })),
        400,
        'badRequest',
        SettingsMessages.noVerifiedPhone,
      );
    });

    test('a factor type alone needs MFA on, then switches the factor and revokes nothing', async () => {
      const user = await owner();
      await otpDevice(user, true);
      await phone(user, true);
      assertFault(
        await put(user, settings({ factorType: 'OTP' })),
        400,
        'badRequest',
        SettingsMessages.factorWithoutMfa,
      );
      assert.equal((await put(user, settings({ enabled: true, factorType: 'OTP' }))).status, 204);
      const revokedBefore = (await events(user, 'tokens.revoked')).length;
      const switched = await put(user, settings({ factorType: 'SMS' }));
      assert.equal(switched.status, 204, switched.text);
      assert.equal((await shown(user))['RAX-AUTH:factorType'], 'SMS');
      assert.equal((await events(user, 'tokens.revoked')).length, revokedBefore);
      assert.equal(await tokenWorks(user, user.token), true);
      assert.deepEqual(
        (await events(user, 'mfa.factor_changed')).map(({ from, to }) => ({ from, to })),
        [{ from: 'OTP', to: 'SMS' }],
      );
      const back = await put(user, settings({ enabled: true, factorType: 'OTP' }));
      assert.equal(back.status, 204);
      assert.equal((await shown(user))['RAX-AUTH:factorType'], 'OTP');
    });

    test('enabling again while enabled changes nothing', async () => {
      const user = await owner();
      await otpDevice(user, true);
      assert.equal((await put(user, settings({ enabled: true }))).status, 204);
      assert.equal((await put(user, settings({ enabled: true }))).status, 204);
      assert.equal((await put(user, settings({ enabled: true, factorType: 'OTP' }))).status, 204);
      assert.equal((await events(user, 'mfa.enabled')).length, 1);
      assert.equal((await events(user, 'mfa.factor_changed')).length, 0);
    });

    test('enabling MFA revokes the user’s password tokens and keeps its API-key tokens', async () => {
      const user = await createAccount(env, admin);
      const passwordToken = user.token;
      const keyToken = await apiKeyToken(user);
      const other = tokenOf(await passwordLogin(env, user.username));
      await otpDevice(user, true);
      assert.equal((await put(user, settings({ enabled: true }), passwordToken)).status, 204);
      assert.equal(await tokenWorks(user, passwordToken), false, 'the token that enabled MFA is gone too');
      assert.equal(await tokenWorks(user, other), false);
      assert.equal(await tokenWorks(user, keyToken), true);
      const [revoked] = await events(user, 'tokens.revoked');
      assert.equal(revoked?.count, 2);
      assert.equal(revoked?.passwordOnly, true);
    });

    test('a SETUP-MFA token enables MFA and is revoked by it', async () => {
      const account = await owner();
      const member = await createUserVia(env, account, 'member');
      assert.equal(
        (await put(member, settings({ userMultiFactorEnforcementLevel: 'REQUIRED' }), account.token)).status,
        204,
      );
      const setup = await env.request('POST', '/v2.0/tokens', {
        body: {
          auth: {
            'RAX-AUTH:scope': 'SETUP-MFA',
            passwordCredentials: { username: member.username, password: member.password },
          },
        },
      });
      const setupToken = tokenOf(setup);
      await otpDevice({ ...member, token: setupToken }, true);
      assertFault(
        await put(member, settings({ userMultiFactorEnforcementLevel: 'OPTIONAL' }), setupToken),
        403,
        'forbidden',
      );
      assert.equal((await put(member, settings({ enabled: true }), setupToken)).status, 204);
      const after = await env.request('GET', `${mfaPath(member.id)}/otp-devices`, { token: setupToken });
      assert.equal(after.status, 401);
    });

    test('disabling turns MFA off, keeps devices, and clears bypass codes and counters', async () => {
      const user = await owner();
      const deviceId = await otpDevice(user, true);
      assert.equal((await put(user, settings({ enabled: true }))).status, 204);
      const codes = await env.request('POST', `${mfaPath(user.id)}/bypass-codes`, {
        token: user.token,
        body: { 'RAX-AUTH:bypassCodes': { numberOfCodes: 3 } },
      });
      assert.equal(codes.status, 200, codes.text);
      await env.deps.db
        .updateTable('users')
        .set({ mfa_failed_count: 3, mfa_last_failed_at: env.clock.now() })
        .where('id', '=', user.id)
        .execute();
      const off = await put(user, settings({ enabled: false }));
      assert.equal(off.status, 204, off.text);
      const body = await shown(user);
      assert.equal(body['RAX-AUTH:multiFactorEnabled'], false);
      assert.equal(body['RAX-AUTH:factorType'], undefined);
      assert.equal(body['RAX-AUTH:multiFactorState'], undefined);
      const devices = await env.request('GET', `${mfaPath(user.id)}/otp-devices`, { token: user.token });
      assert.deepEqual(devices.body['RAX-AUTH:otpDevices'], [{ id: deviceId, name: 'app', verified: true }]);
      const row = await env.deps.db
        .selectFrom('users')
        .select(['factor_type', 'mfa_failed_count', 'mfa_last_failed_at'])
        .where('id', '=', user.id)
        .executeTakeFirstOrThrow();
      assert.deepEqual(row, { factor_type: null, mfa_failed_count: 0, mfa_last_failed_at: null });
      const left = await env.deps.db
        .selectFrom('bypass_codes')
        .select('id')
        .where('user_id', '=', user.id)
        .execute();
      assert.equal(left.length, 0);
      assert.equal((await passwordLogin(env, user.username)).status, 200, 'a password alone suffices again');
      assert.equal((await put(user, settings({ enabled: false }))).status, 204, 'disabling twice is a no-op');
      assert.equal((await events(user, 'mfa.disabled')).length, 1);
    });

    test('a user cannot unlock itself; someone with precedence can', async () => {
      const account = await owner();
      const member = await createUserVia(env, account, 'member');
      await enableOtp(env, member);
      member.token = await apiKeyToken(member);
      await env.deps.db
        .updateTable('users')
        .set({ mfa_failed_count: 7, mfa_last_failed_at: env.clock.now() })
        .where('id', '=', member.id)
        .execute();
      assert.equal((await shown(member))['RAX-AUTH:multiFactorState'], 'LOCKED');

      assertFault(
        await put(member, settings({ unlock: true })),
        403,
        'forbidden',
        SettingsMessages.ownAccount,
      );
      assertFault(
        await put(admin, settings({ unlock: true })),
        403,
        'forbidden',
        SettingsMessages.ownAccount,
      );
      assertFault(await put(account, settings({ unlock: true }), member.token), 403, 'forbidden');
      const stranger = await owner();
      assertFault(await put(member, settings({ unlock: true }), stranger.token), 403, 'forbidden');
      assert.equal((await put(member, settings({ unlock: false }), account.token)).status, 204);
      assert.equal(
        (await shown(member))['RAX-AUTH:multiFactorState'],
        'LOCKED',
        'unlock: false does nothing',
      );

      const unlocked = await put(member, settings({ unlock: true }), account.token);
      assert.equal(unlocked.status, 204, unlocked.text);
      assert.equal((await shown(member))['RAX-AUTH:multiFactorState'], 'ACTIVE');
      const row = await env.deps.db
        .selectFrom('users')
        .select(['mfa_failed_count', 'mfa_last_failed_at'])
        .where('id', '=', member.id)
        .executeTakeFirstOrThrow();
      assert.deepEqual(row, { mfa_failed_count: 0, mfa_last_failed_at: null });
      const [event] = await events(member, 'mfa.unlocked');
      assert.equal(event?.actor, account.id);
      assert.equal(event?.wasLocked, true);
    });

    test('who may set a user’s enforcement level', async () => {
      const account = await owner();
      const member = await createUserVia(env, account, 'member');
      const manager = await createUserManager(env, account);
      const stranger = await owner();
      const level = (value: string) => settings({ userMultiFactorEnforcementLevel: value });

      assertFault(await put(member, level('OPTIONAL')), 403, 'forbidden', Messages.notAuthorized);
      assertFault(
        await put(account, level('OPTIONAL'), member.token),
        403,
        'forbidden',
        Messages.notAuthorized,
      );
      assertFault(await put(admin, level('OPTIONAL')), 403, 'forbidden', Messages.notAuthorized);
      assertFault(await put(member, level('REQUIRED'), stranger.token), 403, 'forbidden');
      assertFault(await put(stranger, level('REQUIRED'), manager.token), 403, 'forbidden');

      assert.equal((await put(account, level('OPTIONAL'))).status, 204, 'an account owner on itself');
      assert.equal((await put(manager, level('OPTIONAL'))).status, 204, 'a user manager on itself');
      assert.equal(
        (await put(account, level('REQUIRED'), manager.token)).status,
        204,
        'a manager on its owner',
      );
      assert.equal((await put(member, level('OPTIONAL'), manager.token)).status, 204);
      assert.equal((await put(member, level('REQUIRED'), account.token)).status, 204);
      assert.equal((await put(account, level('OPTIONAL'), admin.token)).status, 204);

      assert.equal((await shown(member))['RAX-AUTH:userMultiFactorEnforcementLevel'], 'REQUIRED');
      assert.equal((await put(member, level('DEFAULT'), account.token)).status, 204);
      assert.equal(
        (await shown(member))['RAX-AUTH:userMultiFactorEnforcementLevel'],
        'DEFAULT',
        'DEFAULT shows once it has been set',
      );
      const changes = await events(member, 'mfa.user_enforcement_changed');
      assert.deepEqual(
        changes.map(({ from, to }) => [from, to]),
        [
          [null, 'OPTIONAL'],
          ['OPTIONAL', 'REQUIRED'],
          ['REQUIRED', 'DEFAULT'],
        ],
      );
    });

    test('requiring MFA of a user logs out its password tokens and blocks password login', async () => {
      const account = await owner();
      const member = await createUserVia(env, account, 'member');
      const keyToken = await apiKeyToken(member);
      const required = await put(
        member,
        settings({ userMultiFactorEnforcementLevel: 'REQUIRED' }),
        account.token,
      );
      assert.equal(required.status, 204, required.text);
      assert.equal(await tokenWorks(member, member.token), false);
      assert.equal(await tokenWorks(member, keyToken), true);
      assertFault(await passwordLogin(env, member.username), 403, 'forbidden', Messages.mustSetupMfa);
      const [change] = await events(member, 'mfa.user_enforcement_changed');
      assert.equal(change?.tokensRevoked, 1);
      assert.equal(change?.actor, account.id);

      // Back to DEFAULT under an OPTIONAL domain: a password is enough again.
      assert.equal(
        (await put(member, settings({ userMultiFactorEnforcementLevel: 'DEFAULT' }), account.token)).status,
        204,
      );
      assert.equal((await passwordLogin(env, member.username)).status, 200);
    });

    test('DEFAULT under a REQUIRED domain binds a user who was exempt', async () => {
      const account = await owner();
      const member = await createUserVia(env, account, 'member');
      const level = (value: string) => settings({ userMultiFactorEnforcementLevel: value });
      assert.equal((await put(member, level('OPTIONAL'), account.token)).status, 204);
      const domain = await env.request('PUT', `/v2.0/RAX-AUTH/domains/${account.domainId}/multi-factor`, {
        token: admin.token,
        body: { 'RAX-AUTH:multiFactorDomain': { domainMultiFactorEnforcementLevel: 'REQUIRED' } },
      });
      assert.equal(domain.status, 204, domain.text);
      const exemptToken = tokenOf(await passwordLogin(env, member.username));
      assert.equal((await put(member, level('DEFAULT'), account.token)).status, 204);
      assert.equal(await tokenWorks(member, exemptToken), false);
      assertFault(await passwordLogin(env, member.username), 403, 'forbidden', Messages.mustSetupMfa);
    });

    test('a level change that keeps a user bound leaves its SETUP-MFA token alone', async () => {
      const account = await owner();
      const member = await createUserVia(env, account, 'member');
      const domain = await env.request('PUT', `/v2.0/RAX-AUTH/domains/${account.domainId}/multi-factor`, {
        token: admin.token,
        body: { 'RAX-AUTH:multiFactorDomain': { domainMultiFactorEnforcementLevel: 'REQUIRED' } },
      });
      assert.equal(domain.status, 204, domain.text);
      const setupToken = tokenOf(
        await env.request('POST', '/v2.0/tokens', {
          body: {
            auth: {
              'RAX-AUTH:scope': 'SETUP-MFA',
              passwordCredentials: { username: member.username, password: member.password },
            },
          },
        }),
      );
      assert.equal(
        (await put(member, settings({ userMultiFactorEnforcementLevel: 'REQUIRED' }), account.token)).status,
        204,
      );
      const list = await env.request('GET', `${mfaPath(member.id)}/otp-devices`, { token: setupToken });
      assert.equal(list.status, 200, list.text);
    });

    test('an unknown user is not found and a missing token is unauthorised', async () => {
      assertFault(
        await env.request('PUT', mfaPath(randomHex()), {
          token: admin.token,
          body: settings({ unlock: true }),
        }),
        404,
        'itemNotFound',
      );
      assertFault(
        await env.request('DELETE', mfaPath(randomHex()), { token: admin.token }),
        404,
        'itemNotFound',
      );
      const user = await owner();
      assertFault(
        await env.request('PUT', mfaPath(user.id), { body: settings({ enabled: true }) }),
        401,
        'unauthorized',
      );
      assertFault(await env.request('DELETE', mfaPath(user.id)), 401, 'unauthorized');
    });

    test('removing MFA turns it off and deletes the phone, every authenticator and every code', async () => {
      const user = await owner();
      await otpDevice(user, true);
      env.clock.advance(30_000);
      await otpDevice(user, true);
      await phone(user, true);
      assert.equal((await put(user, settings({ enabled: true, factorType: 'OTP' }))).status, 204);
      await env.request('POST', `${mfaPath(user.id)}/bypass-codes`, { token: user.token, body: {} });
      const removed = await env.request('DELETE', mfaPath(user.id), { token: user.token });
      assert.equal(removed.status, 204, removed.text);
      assert.equal(removed.text, '');
      const body = await shown(user);
      assert.equal(body['RAX-AUTH:multiFactorEnabled'], false);
      assert.equal(body['RAX-AUTH:factorType'], undefined);
      const devices = await env.request('GET', `${mfaPath(user.id)}/devices`, { token: user.token });
      assert.deepEqual(devices.body, { 'RAX-AUTH:multiFactorDevices': { mobilePhones: [], otpDevices: [] } });
      const codes = await env.deps.db
        .selectFrom('bypass_codes')
        .select('id')
        .where('user_id', '=', user.id)
        .execute();
      assert.equal(codes.length, 0);
      const [event] = await events(user, 'mfa.removed');
      assert.deepEqual(
        { phones: event?.phonesRemoved, otp: event?.otpDevicesRemoved, wasEnabled: event?.wasEnabled },
        { phones: 1, otp: 2, wasEnabled: true },
      );
      assert.equal((await passwordLogin(env, user.username)).status, 200);
      assert.equal((await env.request('DELETE', mfaPath(user.id), { token: user.token })).status, 204);
    });

    test('removing MFA follows precedence', async () => {
      const account = await owner();
      const member = await createUserVia(env, account, 'member');
      const stranger = await owner();
      await otpDevice(member, false);
      assertFault(
        await env.request('DELETE', mfaPath(account.id), { token: member.token }),
        403,
        'forbidden',
      );
      assertFault(
        await env.request('DELETE', mfaPath(member.id), { token: stranger.token }),
        403,
        'forbidden',
      );
      assert.equal((await env.request('DELETE', mfaPath(member.id), { token: account.token })).status, 204);
      const [event] = await events(member, 'mfa.removed');
      assert.equal(event?.actor, account.id);
    });
  });
}
