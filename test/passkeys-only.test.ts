import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { PasskeyMessages } from '../src/factors/passkeys/passkeys.js';
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
import { enableOtp, sendPasscode, startMfaLogin, totpAt } from './support/mfa.js';
import { PanelClient } from './support/panel-client.js';

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

/** A passkey is registered by a browser ceremony (test/panel-passkeys.test.ts); here only its row. */
async function givePasskey(env: TestEnv, user: TestUser): Promise<void> {
  await env.deps.db
    .insertInto('passkeys')
    .values({
      id: randomBytes(16).toString('hex'),
      user_id: user.id,
      credential_id: randomBytes(16).toString('base64url'),
      public_key: Buffer.from('not checked here').toString('base64url'),
      sign_count: 0,
      transports: 'usb',
      aaguid: '00000000-0000-0000-0000-000000000000',
      backup_eligible: 0,
      backed_up: 0,
      nickname: 'Desk key',
      created_at: env.clock.now(),
      last_used_at: null,
    })
    .execute();
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
      const now = await page.get(policyUrl);
      assert.match(now.body, /Now: <strong>Required: passkeys or security keys only<\/strong>/);
      assert.match(now.body, /Passkeys or security keys are now required/);
      const shown = await env.request('GET', domainPath(owner.domainId), { token: owner.token });
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
  });
}
