import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Messages } from '../src/core/errors.js';
import { MUST_HAVE_MFA_TO_ENFORCE } from '../src/policy/domain-enforcement.js';
import {
  createAccount,
  createAdmin,
  createTestEnv,
  createUserVia,
  dialects,
  passwordLogin,
  setRole,
  type TestEnv,
  type TestUser,
} from './support/harness.js';
import {
  enableOtp,
  enableSms,
  lastSmsPasscode,
  secretOf,
  sendPasscode,
  startMfaLogin,
  totpAt,
} from './support/mfa.js';

const domainPath = (domainId: string | null) => `/v2.0/RAX-AUTH/domains/${domainId}`;
const requireBody = (level: string) => ({
  'RAX-AUTH:multiFactorDomain': { domainMultiFactorEnforcementLevel: level },
});

async function otpLogin(env: TestEnv, user: TestUser, secret: string): Promise<string> {
  env.clock.advance(30_000);
  const { sessionId } = await startMfaLogin(env, user);
  const response = await sendPasscode(env, sessionId, totpAt(secret, env.clock.now()));
  assert.equal(response.status, 200, response.text);
  return (response.body.access as { token: { id: string } }).token.id;
}

for (const dialect of dialects()) {
  describe(`an account requires MFA of all its users (${dialect})`, () => {
    let env: TestEnv;
    let admin: TestUser;
    before(async () => {
      env = await createTestEnv({ dialect });
      admin = await createAdmin(env);
    });
    after(() => env.close());

    test('the seed story: REQUIRED logs out the user without MFA, who sets it up with a SETUP-MFA token', async () => {
      const owner = await createAccount(env, admin);
      const smsUser = await createUserVia(env, owner, 'sms');
      const otpUser = await createUserVia(env, owner, 'otp');
      const none = await createUserVia(env, owner, 'none');
      await enableSms(env, smsUser);
      const otpSecret = await enableOtp(env, otpUser);
      const ownerSecret = await enableOtp(env, owner);
      owner.token = await otpLogin(env, owner, ownerSecret);

      // Dry run first: it names who would be logged out, and changes nothing.
      const dry = await env.request('PUT', `${domainPath(owner.domainId)}/multi-factor?dryRun=true`, {
        token: owner.token,
        body: requireBody('REQUIRED'),
      });
      assert.equal(dry.status, 200, dry.text);
      assert.deepEqual(dry.body['RAX-AUTH:multiFactorDomainImpact'], {
        usersLoggedOut: [{ id: none.id, username: none.username }],
        tokensRevoked: 1,
        usersRequiredToSetUp: [{ id: none.id, username: none.username }],
      });
      const stillOptional = await env.request('GET', domainPath(owner.domainId), { token: owner.token });
      assert.equal(stillOptional.body['RAX-AUTH:domain']?.domainMultiFactorEnforcementLevel, 'OPTIONAL');
      assert.equal((await env.request('GET', `/v2.0/users/${none.id}`, { token: none.token })).status, 200);

      const put = await env.request('PUT', `${domainPath(owner.domainId)}/multi-factor`, {
        token: owner.token,
        body: requireBody('REQUIRED'),
      });
      assert.equal(put.status, 204, put.text);
      const shown = await env.request('GET', domainPath(owner.domainId), { token: owner.token });
      assert.equal(shown.body['RAX-AUTH:domain']?.domainMultiFactorEnforcementLevel, 'REQUIRED');

      // The user without MFA: logged out at once, and its password no longer gives a token.
      const oldToken = await env.request('GET', `/v2.0/users/${none.id}`, { token: none.token });
      assert.equal(oldToken.status, 401);
      const login = await passwordLogin(env, none.username);
      assert.equal(login.status, 403);
      assert.equal(login.body.forbidden?.message, Messages.mustSetupMfa);
      assert.match(
        String(login.body.forbidden?.message),
        /^User must setup multi-factor\. .*"RAX-AUTH:scope":"SETUP-MFA"/,
      );
      const apiKey = await env.request('POST', '/v2.0/tokens', {
        body: { auth: { 'RAX-KSKEY:apiKeyCredentials': { username: none.username, apiKey: none.apiKey } } },
      });
      assert.equal(apiKey.status, 200, 'API-key login is never blocked by enforcement');

      // A SETUP-MFA token opens only the user's own multi-factor calls.
      const setup = await env.request('POST', '/v2.0/tokens', {
        body: {
          auth: {
            'RAX-AUTH:scope': 'SETUP-MFA',
            passwordCredentials: { username: none.username, password: none.password },
          },
        },
      });
      assert.equal(setup.status, 200, setup.text);
      const setupAccess = setup.body.access as {
        token: { id: string; expires: string };
        serviceCatalog?: unknown;
      };
      assert.equal(setupAccess.serviceCatalog, undefined);
      assert.equal(Date.parse(setupAccess.token.expires) - env.clock.now(), 3600_000);
      const setupToken = setupAccess.token.id;
      for (const [method, url] of [
        ['GET', `/v2.0/users/${none.id}`],
        ['GET', domainPath(owner.domainId)],
        ['GET', `/v2.0/tokens/${setupToken}`],
        ['GET', `/v2.0/users/${otpUser.id}/RAX-AUTH/multi-factor/otp-devices`],
      ] as const) {
        const refused = await env.request(method, url, { token: setupToken });
        assert.equal(refused.status, 403, `${method} ${url}`);
      }
      const scoped = await env.request('GET', `/v2.0/users/${none.id}`, { token: setupToken });
      assert.equal(scoped.body.forbidden?.message, Messages.scopeForbids);

      const device = await env.request('POST', `/v2.0/users/${none.id}/RAX-AUTH/multi-factor/otp-devices`, {
        token: setupToken,
        body: { 'RAX-AUTH:otpDevice': { name: 'laptop' } },
      });
      assert.equal(device.status, 201, device.text);
      const { id: deviceId, keyUri } = device.body['RAX-AUTH:otpDevice'] as { id: string; keyUri: string };
      const secret = secretOf(keyUri);
      const verify = await env.request(
        'POST',
        `/v2.0/users/${none.id}/RAX-AUTH/multi-factor/otp-devices/${deviceId}/verify`,
        {
          token: setupToken,
          body: { 'RAX-AUTH:verificationCode': { code: totpAt(secret, env.clock.now()) } },
        },
      );
      assert.equal(verify.status, 204, verify.text);
      const enable = await env.request('PUT', `/v2.0/users/${none.id}/RAX-AUTH/multi-factor`, {
        token: setupToken,
        body: { 'RAX-AUTH:multiFactor': { enabled: true } },
      });
      assert.equal(enable.status, 204, enable.text);
      const afterEnable = await env.request(
        'GET',
        `/v2.0/users/${none.id}/RAX-AUTH/multi-factor/otp-devices`,
        {
          token: setupToken,
        },
      );
      assert.equal(afterEnable.status, 401, 'the setup token stops working once MFA is enabled');

      // Everyone now logs in with two steps.
      const noneToken = await otpLogin(env, none, secret);
      assert.equal((await env.request('GET', `/v2.0/users/${none.id}`, { token: noneToken })).status, 200);
      await otpLogin(env, otpUser, otpSecret);
      const { sessionId, factor } = await startMfaLogin(env, smsUser);
      assert.equal(factor, 'PASSCODE');
      assert.equal((await sendPasscode(env, sessionId, lastSmsPasscode(env))).status, 200);

      // Each step was recorded, with actor and target, for the account's administrator.
      const events = await env.request('GET', `/v2.0/RAX-AUTH/events?domainId=${owner.domainId}&limit=1000`, {
        token: owner.token,
      });
      assert.equal(events.status, 200, events.text);
      const list = events.body.events as unknown as {
        type: string;
        actorId: string | null;
        userId: string | null;
      }[];
      const find = (type: string, actorId: string | null, userId: string | null) =>
        list.find((event) => event.type === type && event.actorId === actorId && event.userId === userId);
      assert.ok(find('domain.enforcement_changed', owner.id, null), 'policy change by the owner');
      assert.ok(find('tokens.revoked', owner.id, none.id), 'the none-user logged out by the owner');
      assert.ok(find('login.failed', none.id, none.id), 'the refused password login');
      assert.ok(find('device.added', none.id, none.id), 'device added with the setup token');
      assert.ok(find('mfa.enabled', none.id, none.id), 'MFA enabled');
      assert.ok(find('login.succeeded', none.id, none.id), 'the two-step login');
      const times = list.map((event) => (event as unknown as { time: string }).time);
      assert.deepEqual(times, [...times].sort().reverse(), 'newest first');
    });

    test('setting the domain back to OPTIONAL revokes nothing', async () => {
      const owner = await createAccount(env, admin);
      const user = await createUserVia(env, owner, 'member');
      await env.request('PUT', `${domainPath(owner.domainId)}/multi-factor`, {
        token: admin.token,
        body: requireBody('REQUIRED'),
      });
      const apiKeyLogin = await env.request('POST', '/v2.0/tokens', {
        body: { auth: { 'RAX-KSKEY:apiKeyCredentials': { username: user.username, apiKey: user.apiKey } } },
      });
      const apiToken = (apiKeyLogin.body.access as { token: { id: string } }).token.id;
      const dry = await env.request('PUT', `${domainPath(owner.domainId)}/multi-factor?dryRun=true`, {
        token: admin.token,
        body: requireBody('OPTIONAL'),
      });
      assert.deepEqual(dry.body['RAX-AUTH:multiFactorDomainImpact'], {
        usersLoggedOut: [],
        tokensRevoked: 0,
        usersRequiredToSetUp: [],
      });
      const put = await env.request('PUT', `${domainPath(owner.domainId)}/multi-factor`, {
        token: admin.token,
        body: requireBody('OPTIONAL'),
      });
      assert.equal(put.status, 204);
      assert.equal((await env.request('GET', `/v2.0/users/${user.id}`, { token: apiToken })).status, 200);
      assert.equal((await passwordLogin(env, user.username)).status, 200);
    });

    test('a user-level OPTIONAL user is neither logged out nor required', async () => {
      const owner = await createAccount(env, admin);
      const exempt = await createUserVia(env, owner, 'exempt');
      const put = await env.request('PUT', `/v2.0/users/${exempt.id}/RAX-AUTH/multi-factor`, {
        token: owner.token,
        body: { 'RAX-AUTH:multiFactor': { userMultiFactorEnforcementLevel: 'OPTIONAL' } },
      });
      assert.equal(put.status, 204, put.text);
      await env.request('PUT', `${domainPath(owner.domainId)}/multi-factor`, {
        token: admin.token,
        body: requireBody('REQUIRED'),
      });
      assert.equal(
        (await env.request('GET', `/v2.0/users/${exempt.id}`, { token: exempt.token })).status,
        200,
      );
      assert.equal((await passwordLogin(env, exempt.username)).status, 200);
    });

    test('who may set the domain level', async () => {
      const owner = await createAccount(env, admin);
      const other = await createAccount(env, admin);
      const member = await createUserVia(env, owner, 'member');
      const manager = await createUserVia(env, owner, 'manager');
      await setRole(env, manager, 'identity:user-manage');
      const put = (user: TestUser, domainId: string | null, body: unknown = requireBody('REQUIRED')) =>
        env.request('PUT', `${domainPath(domainId)}/multi-factor`, { token: user.token, body });

      const byDefault = await put(member, owner.domainId);
      assert.equal(byDefault.status, 403);
      assert.equal(byDefault.body.forbidden?.message, Messages.notAuthorized);
      const ownerWithoutMfa = await put(owner, owner.domainId);
      assert.equal(ownerWithoutMfa.status, 403);
      assert.equal(ownerWithoutMfa.body.forbidden?.message, MUST_HAVE_MFA_TO_ENFORCE);
      const managerWithoutMfa = await put(manager, owner.domainId);
      assert.equal(managerWithoutMfa.body.forbidden?.message, MUST_HAVE_MFA_TO_ENFORCE);
      assert.equal((await put(admin, '99999999999')).status, 404);
      assert.equal(
        (await put(admin, owner.domainId, {})).body.badRequest?.message,
        'Must provide domain multifactor enforcement level',
      );
      assert.equal((await put(admin, owner.domainId, requireBody('SOMETIMES'))).status, 400);

      // A user-level OPTIONAL account owner may enforce, but only on its own domain.
      await env.request('PUT', `/v2.0/users/${other.id}/RAX-AUTH/multi-factor`, {
        token: admin.token,
        body: { 'RAX-AUTH:multiFactor': { userMultiFactorEnforcementLevel: 'OPTIONAL' } },
      });
      assert.equal((await put(other, owner.domainId)).status, 403);
      assert.equal((await put(other, other.domainId)).status, 204);

      // A manager with MFA may enforce on its own domain; an identity:admin on any.
      const managerSecret = await enableOtp(env, manager);
      manager.token = await otpLogin(env, manager, managerSecret);
      assert.equal((await put(manager, owner.domainId)).status, 204);
      assert.equal((await put(admin, owner.domainId, requireBody('OPTIONAL'))).status, 204);
    });

    test('events are readable by administrators, by an account owner for its own domain only', async () => {
      const owner = await createAccount(env, admin);
      const other = await createAccount(env, admin);
      const member = await createUserVia(env, owner, 'member');
      const mine = await env.request('GET', '/v2.0/RAX-AUTH/events?limit=1000', { token: owner.token });
      assert.equal(mine.status, 200);
      const domains = new Set(
        (mine.body.events as unknown as { domainId: string }[]).map((event) => event.domainId),
      );
      assert.deepEqual([...domains], [owner.domainId]);
      assert.equal(
        (await env.request('GET', `/v2.0/RAX-AUTH/events?domainId=${other.domainId}`, { token: owner.token }))
          .status,
        403,
      );
      assert.equal((await env.request('GET', '/v2.0/RAX-AUTH/events', { token: member.token })).status, 403);
      assert.equal(
        (await env.request('GET', '/v2.0/RAX-AUTH/events?limit=1001', { token: admin.token })).status,
        400,
      );
      assert.equal(
        (await env.request('GET', '/v2.0/RAX-AUTH/events?since=yesterday', { token: admin.token })).status,
        400,
      );
      const created = await env.request(
        'GET',
        `/v2.0/RAX-AUTH/events?type=user.created&userId=${member.id}`,
        {
          token: admin.token,
        },
      );
      const events = created.body.events as unknown as { type: string; actorId: string; userId: string }[];
      assert.equal(events.length, 1);
      assert.equal(events[0]?.actorId, owner.id);
      const later = new Date(env.clock.now() + 1000).toISOString();
      const none = await env.request('GET', `/v2.0/RAX-AUTH/events?since=${later}`, { token: admin.token });
      assert.deepEqual(none.body.events, []);
    });
  });
}
