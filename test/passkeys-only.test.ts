import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { issueToken } from '../src/access/tokens.js';
import { PasskeyMessages } from '../src/factors/passkeys/passkeys.js';
import { PASSKEYS_REQUIRED_LOGOUT_MESSAGE } from '../src/panel/session.js';
import {
  createAccount,
  createAdmin,
  createTestEnv,
  createUserVia,
  dialects,
  passwordLogin,
  type TestEnv,
  type TestUser,
} from './support/harness.js';
import { enableOtp, givePasskey, sendPasscode, startMfaLogin, totpAt } from './support/mfa.js';
import { PanelClient } from './support/panel-client.js';

async function apiKeyToken(env: TestEnv, user: TestUser): Promise<string> {
  const response = await env.request('POST', '/v2.0/tokens', {
    body: { auth: { 'RAX-KSKEY:apiKeyCredentials': { username: user.username, apiKey: user.apiKey } } },
  });
  assert.equal(response.status, 200, response.text);
  return (response.body.access as { token: { id: string } }).token.id;
}

async function passwordToken(env: TestEnv, user: TestUser): Promise<string> {
  const response = await passwordLogin(env, user.username, user.password);
  assert.equal(response.status, 200, response.text);
  return (response.body.access as { token: { id: string } }).token.id;
}

const domainPath = (domainId: string | null) => `/v2.0/RAX-AUTH/domains/${domainId}`;
const policyBody = (level: string, passkeysOnly?: unknown) => ({
  'RAX-AUTH:multiFactorDomain': {
    domainMultiFactorEnforcementLevel: level,
    ...(passkeysOnly === undefined ? {} : { 'latchkey:passkeysOnly': passkeysOnly }),
  },
});

async function otpLogin(env: TestEnv, user: TestUser, secret: string): Promise<string> {
  env.clock.advance(30_000);
  const { sessionId } = await startMfaLogin(env, user);
  const response = await sendPasscode(env, sessionId, totpAt(secret, env.clock.now()));
  assert.equal(response.status, 200, response.text);
  return (response.body.access as { token: { id: string } }).token.id;
}

function v3PasswordLogin(env: TestEnv, user: TestUser, passcode?: string) {
  const ref = { name: user.username, domain: { id: 'default' } };
  return env.request('POST', '/v3/auth/tokens', {
    body: {
      auth: {
        identity: {
          methods: passcode === undefined ? ['password'] : ['password', 'totp'],
          password: { user: { ...ref, password: user.password } },
          ...(passcode === undefined ? {} : { totp: { user: { ...ref, passcode } } }),
        },
      },
    },
  });
}

const AT_PUBLIC_URL = { host: 'localhost', origin: 'http://localhost' };

/** The panel at the public URL (WebAuthn's relying party), where a passkey can be asked for. */
class PublicPanel extends PanelClient {
  override get(url: string, headers: Record<string, string> = {}) {
    return super.get(url, { ...AT_PUBLIC_URL, ...headers });
  }

  override post(
    url: string,
    fields: Record<string, string> | string,
    headers: Record<string, string> = {},
    options: { raw?: boolean; remoteAddress?: string } = {},
  ) {
    return super.post(url, fields, { ...AT_PUBLIC_URL, ...headers }, options);
  }
}

/** The panel's password step; returns where it sends the browser next. */
async function panelPasswordStep(client: PanelClient, user: TestUser): Promise<string> {
  await client.get('/sign-in');
  const response = await client.post('/sign-in', { username: user.username, password: user.password });
  assert.equal(response.status, 303, response.body);
  return String(response.headers.location);
}

async function panelPasscodeStep(client: PanelClient, env: TestEnv, secret: string) {
  env.clock.advance(30_000);
  await client.get('/sign-in/passcode');
  return client.post('/sign-in/passcode', { passcode: totpAt(secret, env.clock.now()) });
}

for (const dialect of dialects()) {
  describe(`an account requires passkeys or security keys (${dialect})`, () => {
    let env: TestEnv;
    let admin: TestUser;
    before(async () => {
      env = await createTestEnv({ dialect, env: { LATCHKEY_PUBLIC_URL: 'http://localhost' } });
      admin = await createAdmin(env);
    });
    after(() => env.close());

    test('over the API: REQUIRED on the wire, password logins refused on v2.0 and /v3, API keys still work', async () => {
      const owner = await createAccount(env, admin);
      const ownerSecret = await enableOtp(env, owner);
      owner.token = await otpLogin(env, owner, ownerSecret);
      const member = await createUserVia(env, owner, 'member');
      const memberSecret = await enableOtp(env, member);

      const bad = await env.request('PUT', `${domainPath(owner.domainId)}/multi-factor`, {
        token: owner.token,
        body: policyBody('REQUIRED', 'yes'),
      });
      assert.equal(bad.status, 400, bad.text);

      const put = await env.request('PUT', `${domainPath(owner.domainId)}/multi-factor`, {
        token: owner.token,
        body: policyBody('REQUIRED', true),
      });
      assert.equal(put.status, 204, put.text);
      const shown = await env.request('GET', domainPath(owner.domainId), { token: owner.token });
      assert.equal(shown.body['RAX-AUTH:domain']?.domainMultiFactorEnforcementLevel, 'REQUIRED');
      assert.equal(shown.body['RAX-AUTH:domain']?.['latchkey:passkeysOnly'], true);

      // A right password is refused with the reason; a wrong one reads as before.
      const v2 = await passwordLogin(env, member.username, member.password);
      assert.equal(v2.status, 403, v2.text);
      assert.equal(v2.body.forbidden?.message, PasskeyMessages.accountRequiresPasskey);
      assert.equal((await passwordLogin(env, member.username, 'Wrong1password')).status, 401);
      const v3 = await v3PasswordLogin(env, member);
      assert.equal(v3.status, 403, v3.text);
      assert.match(v3.text, /requires a passkey or security key/);
      env.clock.advance(30_000);
      const both = await v3PasswordLogin(env, member, totpAt(memberSecret, env.clock.now()));
      assert.equal(both.status, 403, both.text);

      const apiKey = await env.request('POST', '/v2.0/tokens', {
        body: {
          auth: { 'RAX-KSKEY:apiKeyCredentials': { username: member.username, apiKey: member.apiKey } },
        },
      });
      assert.equal(apiKey.status, 200, apiKey.text);

      // A client that knows only the two levels does not undo the choice; OPTIONAL does.
      const again = await env.request('PUT', `${domainPath(owner.domainId)}/multi-factor`, {
        token: owner.token,
        body: policyBody('REQUIRED'),
      });
      assert.equal(again.status, 204, again.text);
      const kept = await env.request('GET', domainPath(owner.domainId), { token: owner.token });
      assert.equal(kept.body['RAX-AUTH:domain']?.['latchkey:passkeysOnly'], true);
      await env.request('PUT', `${domainPath(owner.domainId)}/multi-factor`, {
        token: owner.token,
        body: policyBody('OPTIONAL'),
      });
      const cleared = await env.request('GET', domainPath(owner.domainId), { token: owner.token });
      assert.equal(cleared.body['RAX-AUTH:domain']?.['latchkey:passkeysOnly'], false);
      assert.equal((await startMfaLogin(env, member)).sessionId.length > 0, true);
    });

    test('in the panel: the owner chooses it, sees who has no passkey, and passcodes give way to passkeys', async () => {
      const owner = await createAccount(env, admin);
      const ownerSecret = await enableOtp(env, owner);
      owner.token = await otpLogin(env, owner, ownerSecret);
      const keyed = await createUserVia(env, owner, 'keyed');
      const keyedSecret = await enableOtp(env, keyed);
      await givePasskey(env, keyed);
      const coded = await createUserVia(env, owner, 'coded');
      const codedSecret = await enableOtp(env, coded);
      const exempt = await createUserVia(env, owner, 'exempt');
      const optional = await env.request('PUT', `/v2.0/users/${exempt.id}/RAX-AUTH/multi-factor`, {
        token: owner.token,
        body: { 'RAX-AUTH:multiFactor': { userMultiFactorEnforcementLevel: 'OPTIONAL' } },
      });
      assert.equal(optional.status, 204, optional.text);

      const page = new PublicPanel(env);
      assert.equal(await panelPasswordStep(page, owner), '/sign-in/passcode');
      assert.equal((await panelPasscodeStep(page, env, ownerSecret)).status, 303);
      const policyUrl = `/admin/accounts/${owner.domainId}/multi-factor`;
      const form = await page.get(policyUrl);
      assert.equal(form.status, 200);
      assert.match(form.body, /Required: passkeys or security keys only/);

      const confirm = await page.post(policyUrl, { level: 'PASSKEYS_ONLY' });
      assert.equal(confirm.status, 200, confirm.body.slice(0, 300));
      assert.match(confirm.body, /Require passkeys or security keys\?/);
      const withoutPasskey = /id="without-passkey"[\s\S]*?<\/section>/.exec(confirm.body)?.[0] ?? '';
      assert.ok(withoutPasskey.includes(coded.username), 'the user without a passkey is named');
      assert.ok(withoutPasskey.includes(owner.username), 'so is the owner, who has none either');
      assert.ok(!withoutPasskey.includes(keyed.username), 'the user with a passkey is not');
      assert.ok(!withoutPasskey.includes(exempt.username), 'the exempt user is not');
      const unchanged = await env.request('GET', domainPath(owner.domainId), { token: owner.token });
      assert.equal(
        unchanged.body['RAX-AUTH:domain']?.['latchkey:passkeysOnly'],
        false,
        'nothing changed yet',
      );

      // The overview shows who has adopted passkeys: one of the account's four users.
      const overview = await page.get(`/admin/accounts/${owner.domainId}`);
      assert.equal(overview.status, 200);
      assert.match(
        overview.body,
        /<strong>1<\/strong> of <strong>4<\/strong> users have a passkey or security key/,
      );

      const saved = await page.post(policyUrl, { level: 'PASSKEYS_ONLY', confirmed: 'yes' });
      assert.equal(saved.status, 303, saved.body.slice(0, 300));
      // The owner's panel session, which saved it, stays; the owner's other token does not.
      const now = await page.get(policyUrl);
      assert.match(now.body, /Now: <strong>Required: passkeys or security keys only<\/strong>/);
      assert.match(now.body, /Passkeys or security keys are now required/);
      assert.equal(
        (await env.request('GET', domainPath(owner.domainId), { token: owner.token })).status,
        401,
      );
      const shown = await env.request('GET', domainPath(owner.domainId), { token: admin.token });
      assert.equal(shown.body['RAX-AUTH:domain']?.domainMultiFactorEnforcementLevel, 'REQUIRED');
      assert.equal(shown.body['RAX-AUTH:domain']?.['latchkey:passkeysOnly'], true);

      // Without a passkey: the passcode one last time, then straight to adding one.
      const codedPage = new PublicPanel(env);
      assert.equal(await panelPasswordStep(codedPage, coded), '/sign-in/passcode');
      const last = await panelPasscodeStep(codedPage, env, codedSecret);
      assert.equal(last.status, 303, last.body.slice(0, 300));
      assert.equal(last.headers.location, '/profile/passkeys/new');
      assert.ok(codedPage.cookies.has('lk_session'));
      const add = await codedPage.get('/profile/passkeys/new');
      assert.match(add.body, /requires a passkey or security key/);

      // With one: a passcode is refused, and no session starts.
      const keyedPage = new PublicPanel(env);
      // Asked for the passkey, whatever the user's default method, with no passcode offered.
      assert.equal(await panelPasswordStep(keyedPage, keyed), '/sign-in/passkey');
      const ask = await keyedPage.get('/sign-in/passkey');
      assert.equal(ask.status, 200);
      assert.doesNotMatch(ask.body, /Use Another Method/);
      assert.match(ask.body, /Your account requires a passkey or security key/);
      const refused = await panelPasscodeStep(keyedPage, env, keyedSecret);
      assert.equal(refused.status, 303);
      assert.equal(refused.headers.location, '/sign-in');
      assert.ok(!keyedPage.cookies.has('lk_session'));
      const told = await keyedPage.get('/sign-in');
      assert.match(told.body, /Your account requires a passkey or security key: a passcode is not accepted/);

      // The exempt user (own level OPTIONAL) logs in with a password alone, as before.
      assert.equal((await passwordLogin(env, exempt.username, exempt.password)).status, 200);
    });

    test('turning it on logs out at once every session and token not obtained with a passkey; API keys, passkeys, exempt users and the session saving it stay', async () => {
      const owner = await createAccount(env, admin);
      const ownerSecret = await enableOtp(env, owner);
      owner.token = await otpLogin(env, owner, ownerSecret);
      const ownerElsewhere = await otpLogin(env, owner, ownerSecret);
      const coded = await createUserVia(env, owner, 'coded');
      const codedSecret = await enableOtp(env, coded);
      const codedToken = await otpLogin(env, coded, codedSecret);
      const codedPage = new PublicPanel(env);
      assert.equal(await panelPasswordStep(codedPage, coded), '/sign-in/passcode');
      const signedIn = await panelPasscodeStep(codedPage, env, codedSecret);
      assert.equal(signedIn.headers.location, '/profile');
      const codedApiKeyToken = await apiKeyToken(env, coded);
      const keyed = await createUserVia(env, owner, 'keyed');
      await givePasskey(env, keyed);
      // A sign-in with the passkey alone (test/panel-passkeys.test.ts makes one in a browser).
      const keyedToken = (await issueToken(env.deps, env.deps.db, keyed, ['PASSKEY'])).id;
      const exempt = await createUserVia(env, owner, 'exempt');
      const optional = await env.request('PUT', `/v2.0/users/${exempt.id}/RAX-AUTH/multi-factor`, {
        token: owner.token,
        body: { 'RAX-AUTH:multiFactor': { userMultiFactorEnforcementLevel: 'OPTIONAL' } },
      });
      assert.equal(optional.status, 204, optional.text);
      const exemptToken = await passwordToken(env, exempt);

      const live = async (token: string) =>
        (await env.request('GET', `/v2.0/tokens/${token}`, { token: admin.token })).status === 200;
      const staying = { owner: owner.token, codedApiKeyToken, keyedToken, exemptToken };
      // keyed's password-only token (from before the passkey) goes too.
      const going = { ownerElsewhere, codedToken, keyedPassword: keyed.token };
      // Validated twice each: the second answer comes from what the instance remembers.
      await env.deps.store.writeListener?.ready();
      for (const token of [...Object.values(staying), ...Object.values(going)]) {
        assert.ok(await live(token));
        assert.ok(await live(token));
      }
      assert.equal((await codedPage.get('/profile')).status, 200);

      const path = `${domainPath(owner.domainId)}/multi-factor`;
      const dryRun = await env.request('PUT', `${path}?dryRun=true`, {
        token: owner.token,
        body: policyBody('REQUIRED', true),
      });
      assert.equal(dryRun.status, 200, dryRun.text);
      const impact = dryRun.body['RAX-AUTH:multiFactorDomainImpact'] as {
        usersLoggedOut: { username: string }[];
        tokensRevoked: number;
      };
      assert.deepEqual(
        impact.usersLoggedOut.map((user) => user.username).sort(),
        [coded.username, keyed.username, owner.username].sort(),
      );
      assert.equal(
        impact.tokensRevoked,
        4,
        "coded's token and session, keyed's password token, the owner's other",
      );
      assert.ok(await live(codedToken), 'a dry run logs nobody out');

      const put = await env.request('PUT', path, { token: owner.token, body: policyBody('REQUIRED', true) });
      assert.equal(put.status, 204, put.text);
      for (const [name, token] of Object.entries(going)) assert.equal(await live(token), false, name);
      for (const [name, token] of Object.entries(staying)) assert.equal(await live(token), true, name);
      const ended = await codedPage.get('/profile');
      assert.equal(ended.status, 303);
      assert.equal(ended.headers.location, '/sign-in');
      assert.ok((await codedPage.get('/sign-in')).body.includes(PASSKEYS_REQUIRED_LOGOUT_MESSAGE));
      const revoked = await env.deps.db
        .selectFrom('security_events')
        .select('detail')
        .where('type', '=', 'tokens.revoked')
        .where('user_id', '=', coded.id)
        .execute();
      assert.ok(revoked.some((event) => event.detail.includes('domain requires passkeys')));
    });

    test('without a passkey, the passcode opens a session that can only add one: nothing else in the panel or the API, at every log in', async () => {
      const owner = await createAccount(env, admin);
      const ownerSecret = await enableOtp(env, owner);
      owner.token = await otpLogin(env, owner, ownerSecret);
      const coded = await createUserVia(env, owner, 'coded');
      const codedSecret = await enableOtp(env, coded);
      const put = await env.request('PUT', `${domainPath(owner.domainId)}/multi-factor`, {
        token: owner.token,
        body: policyBody('REQUIRED', true),
      });
      assert.equal(put.status, 204, put.text);

      for (const attempt of ['first', 'again']) {
        const page = new PublicPanel(env);
        assert.equal(await panelPasswordStep(page, coded), '/sign-in/passcode');
        const last = await panelPasscodeStep(page, env, codedSecret);
        assert.equal(last.headers.location, '/profile/passkeys/new', attempt);
        const add = await page.get('/profile/passkeys/new');
        assert.equal(add.status, 200);
        assert.match(add.body, /Add one to go on/);
        assert.doesNotMatch(add.body, />Cancel</, 'no way back into the panel');
        assert.doesNotMatch(add.body, /My Profile &amp; Settings<\/a>/, 'nor a menu into it');
        for (const url of [
          '/',
          '/profile',
          '/profile/bypass-codes',
          '/profile/password',
          '/setup',
          '/admin',
        ]) {
          const elsewhere = await page.get(url);
          assert.equal(elsewhere.status, 303, `${attempt}: ${url}`);
          assert.equal(elsewhere.headers.location, '/profile/passkeys/new', `${attempt}: ${url}`);
        }
        const generate = await page.post('/profile/bypass-codes', { count: '5' });
        assert.equal(generate.headers.location, '/profile/passkeys/new');

        // The session's token is no API token either.
        const token = page.cookies.get('lk_session') ?? '';
        const api = [
          await env.request('GET', `/v2.0/users/${coded.id}`, { token }),
          await env.request('GET', `/v2.0/tokens/${token}`, { token }),
          await env.request('GET', `/v2.0/users/${coded.id}/RAX-AUTH/multi-factor/otp-devices`, { token }),
          await env.request('POST', '/v2.0/tokens', { body: { auth: { token: { id: token } } } }),
          await env.request('GET', '/v3/auth/tokens', {
            headers: { 'x-auth-token': token, 'x-subject-token': token },
          }),
        ];
        assert.deepEqual(
          api.map((response) => response.status),
          [403, 403, 403, 403, 403],
        );
      }
    });

    test('a login that races with the account turning passkeys-only is decided on the policy it ends under', async () => {
      const owner = await createAccount(env, admin);
      const ownerSecret = await enableOtp(env, owner);
      owner.token = await otpLogin(env, owner, ownerSecret);
      const member = await createUserVia(env, owner, 'member');
      const path = `${domainPath(owner.domainId)}/multi-factor`;
      const required = await env.request('PUT', path, { token: owner.token, body: policyBody('REQUIRED') });
      assert.equal(required.status, 204, required.text);

      // The owner turns passkeys-only on while the member's password is being checked: after the
      // login has read the account, before it issues anything.
      const hasher = env.deps.passwords;
      const verify = hasher.verifyOrDummy;
      let changedMidway = false;
      hasher.verifyOrDummy = async (hash, password) => {
        const ok = await verify.call(hasher, hash, password);
        if (!changedMidway) {
          changedMidway = true;
          const put = await env.request('PUT', path, {
            token: owner.token,
            body: policyBody('REQUIRED', true),
          });
          assert.equal(put.status, 204, put.text);
        }
        return ok;
      };
      try {
        const setup = await env.request('POST', '/v2.0/tokens', {
          body: {
            auth: {
              'RAX-AUTH:scope': 'SETUP-MFA',
              passwordCredentials: { username: member.username, password: member.password },
            },
          },
        });
        assert.ok(changedMidway);
        assert.equal(setup.status, 403, setup.text);
        assert.equal(setup.body.forbidden?.message, PasskeyMessages.accountRequiresPasskey);
      } finally {
        hasher.verifyOrDummy = verify;
      }
      const tokens = await env.deps.db
        .selectFrom('tokens')
        .select('hash')
        .where('user_id', '=', member.id)
        .execute();
      const live = await env.deps.db
        .selectFrom('tokens')
        .select('hash')
        .where('user_id', '=', member.id)
        .where('revoked_at', 'is', null)
        .execute();
      assert.ok(tokens.length > 0);
      assert.equal(live.length, 0, 'no token of the member outlives the change');
    });
  });
}
