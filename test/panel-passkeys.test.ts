import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Browser, BrowserContext, CDPSession, Page } from 'playwright-core';
import { PasskeyMessages } from '../src/factors/passkeys/passkeys.js';
import { tokenOf } from './support/api.js';
import {
  assertAccessible,
  bannerText,
  browserUnavailable,
  clickAndLoad,
  enterPasscode,
  launchChromium,
  signIn,
  submit,
} from './support/browser.js';
import {
  createAccount,
  createAdmin,
  createTestEnv,
  createUserVia,
  dialects,
  type TestEnv,
  type TestUser,
} from './support/harness.js';
import { freePort } from './support/process.js';

/** A browser profile with a platform authenticator (CDP virtual authenticator, user verifying). */
async function personWithAuthenticator(
  browser: Browser,
  baseURL: string,
): Promise<{ context: BrowserContext; page: Page; cdp: CDPSession; authenticatorId: string }> {
  const context = await browser.newContext({ baseURL, viewport: { width: 1280, height: 900 } });
  const page = await context.newPage();
  const cdp = await page.context().newCDPSession(page);
  await cdp.send('WebAuthn.enable');
  const { authenticatorId } = await cdp.send('WebAuthn.addVirtualAuthenticator', {
    options: {
      protocol: 'ctap2',
      transport: 'internal',
      hasResidentKey: true,
      hasUserVerification: true,
      isUserVerified: true,
      automaticPresenceSimulation: true,
    },
  });
  return { context, page, cdp, authenticatorId };
}

const skip = browserUnavailable();

describe('passkeys and security keys in the panel (real Chromium, virtual authenticator)', { skip }, () => {
  let env: TestEnv;
  let baseUrl: string;
  let browser: Browser;
  let admin: TestUser;
  let owner: TestUser;
  let alice: TestUser;
  let person: Awaited<ReturnType<typeof personWithAuthenticator>>;

  before(async () => {
    const port = await freePort();
    baseUrl = `http://localhost:${port}`;
    const dialect = dialects().at(-1) ?? 'sqlite';
    env = await createTestEnv({ dialect, env: { LATCHKEY_PUBLIC_URL: baseUrl } });
    await env.app.listen({ host: '127.0.0.1', port });
    admin = await createAdmin(env);
    owner = await createAccount(env, admin);
    alice = await createUserVia(env, owner, 'alice');
    browser = await launchChromium();
    person = await personWithAuthenticator(browser, baseUrl);
  });
  after(async () => {
    await browser?.close();
    await env?.close();
  });

  const passkeysOf = (userId: string) =>
    env.deps.db.selectFrom('passkeys').selectAll().where('user_id', '=', userId).execute();
  const userRow = (userId: string) =>
    env.deps.db.selectFrom('users').selectAll().where('id', '=', userId).executeTakeFirstOrThrow();
  const refusals = async (reason: string) =>
    (
      await env.deps.db
        .selectFrom('security_events')
        .select('detail')
        .where('type', '=', 'passkey.refused')
        .execute()
    ).filter((row) => (JSON.parse(row.detail) as { reason?: string }).reason === reason).length;

  /** The next answer posted to `path` arrives changed, as an attacker's relay would send it. */
  async function tamperNextAnswer(page: Page, path: string, origin: string): Promise<void> {
    await page.route(
      `**${path}`,
      async (route) => {
        const form = new URLSearchParams(route.request().postData() ?? '');
        const answer = JSON.parse(form.get('response') ?? '{}');
        const clientData = JSON.parse(Buffer.from(answer.response.clientDataJSON, 'base64url').toString());
        clientData.origin = origin;
        answer.response.clientDataJSON = Buffer.from(JSON.stringify(clientData)).toString('base64url');
        form.set('response', JSON.stringify(answer));
        await route.continue({ postData: form.toString() });
      },
      { times: 1 },
    );
  }

  test('a user adds a passkey: a nickname, then the browser prompt; multi-factor turns on with it', async () => {
    const { page } = person;
    await signIn(page, alice.username, alice.password);
    await page.goto('/profile');
    const section = page.locator('#passkeys');
    assert.match(await section.innerText(), /No passkeys or security keys yet/);
    await clickAndLoad(page, section.getByRole('link', { name: 'Add Passkey or Security Key' }));
    await page.getByLabel('Nickname').fill('Work laptop');
    await submit(page, 'Continue');
    await assertAccessible(page, 'the passkey prompt page');
    // The script is ours and the library is served from our origin: the button shows, the notice hides.
    assert.equal(await page.locator('[data-passkey-nojs]').isHidden(), true);
    await clickAndLoad(page, page.getByRole('button', { name: 'Add Passkey or Security Key' }));
    assert.match(new URL(page.url()).pathname, /^\/sign-in$/);
    assert.match(
      await bannerText(page),
      /Passkey Work laptop added, and multi-factor authentication is now on/,
    );
    const stored = await passkeysOf(alice.id);
    assert.equal(stored.length, 1);
    assert.equal(stored[0]?.nickname, 'Work laptop');
    const user = await userRow(alice.id);
    assert.equal(user.mfa_enabled, 1);
    assert.equal(user.factor_type, 'PASSKEY');
    // The user handle is random, never the user's id, name or email.
    assert.ok(user.webauthn_handle);
    assert.ok(!Buffer.from(user.webauthn_handle, 'base64url').toString('latin1').includes(alice.id));
  });

  test('signing in takes the password, then the passkey', async () => {
    const { page } = person;
    await signIn(page, alice.username, alice.password);
    assert.equal(new URL(page.url()).pathname, '/sign-in/passkey');
    assert.equal(
      await page.getByRole('heading', { level: 1 }).innerText(),
      'Use your passkey or security key',
    );
    await assertAccessible(page, 'the passkey step');
    await clickAndLoad(page, page.getByRole('button', { name: 'Use Your Passkey or Security Key' }));
    assert.equal(new URL(page.url()).pathname, '/profile');
    const [stored] = await passkeysOf(alice.id);
    assert.ok(stored?.last_used_at, 'the last use is recorded');
    assert.ok((stored?.sign_count ?? 0) > 0);
    assert.match(await page.locator('#passkeys').innerText(), /Work laptop/);
    await page.context().clearCookies();
  });

  test('a password alone gets no token on the API: the challenge is for a code, and says why', async () => {
    const v2 = await env.request('POST', '/v2.0/tokens', {
      body: { auth: { passwordCredentials: { username: alice.username, password: alice.password } } },
    });
    assert.equal(v2.status, 401, v2.text);
    assert.match(String(v2.headers['www-authenticate']), /^OS-MF sessionId='[^']+', factor='OTPPASSCODE'$/);
    assert.match(
      String(v2.body.unauthorized?.message),
      new RegExp(PasskeyMessages.apiChallengeCodes.slice(0, 60)),
    );
    const v3 = await env.request('POST', '/v3/auth/tokens', {
      body: {
        auth: {
          identity: {
            methods: ['password'],
            password: { user: { name: alice.username, domain: { id: 'default' }, password: alice.password } },
          },
        },
      },
    });
    assert.equal(v3.status, 401, v3.text);
    assert.equal(v3.headers['x-subject-token'], undefined);
    // The API's user object still says MFA is on; clients know SMS and OTP factors only.
    const shown = await env.request('GET', `/v2.0/users/${alice.id}`, { token: owner.token });
    assert.equal((shown.body.user as Record<string, unknown>)['RAX-AUTH:multiFactorEnabled'], true);
    assert.equal((shown.body.user as Record<string, unknown>)['RAX-AUTH:factorType'], undefined);
  });

  test('Use another method: a bypass code finishes the sign-in instead of the passkey', async () => {
    const keyLogin = await env.request('POST', '/v2.0/tokens', {
      body: { auth: { 'RAX-KSKEY:apiKeyCredentials': { username: alice.username, apiKey: alice.apiKey } } },
    });
    const generated = await env.request(
      'POST',
      `/v2.0/users/${alice.id}/RAX-AUTH/multi-factor/bypass-codes`,
      {
        token: tokenOf(keyLogin),
        body: {},
      },
    );
    assert.equal(generated.status, 200, generated.text);
    const codes = (JSON.stringify(generated.body).match(/"(\d{8})"/g) ?? []).map((quoted) =>
      quoted.slice(1, -1),
    );
    assert.ok(codes.length > 0, generated.text);
    const { page } = person;
    await signIn(page, alice.username, alice.password);
    await submit(page, 'Use Another Method');
    assert.equal(new URL(page.url()).pathname, '/sign-in/passcode');
    await enterPasscode(page, codes[0] ?? '');
    assert.equal(new URL(page.url()).pathname, '/profile');
    await page.context().clearCookies();
  });

  test('Sign in with a passkey: no password, and the token counts as multi-factor', async () => {
    const { page } = person;
    await page.goto('/sign-in');
    await submit(page, 'Log In with a Passkey');
    await assertAccessible(page, 'the passwordless page');
    await clickAndLoad(page, page.getByRole('button', { name: 'Use Your Passkey or Security Key' }));
    assert.equal(new URL(page.url()).pathname, '/profile');
    const tokens = await env.deps.db
      .selectFrom('tokens')
      .select('authenticated_by')
      .where('user_id', '=', alice.id)
      .where('revoked_at', 'is', null)
      .execute();
    assert.deepEqual(
      tokens.filter((token) => token.authenticated_by === 'PASSKEY').length,
      1,
      'one token, from the passkey alone',
    );
    await page.context().clearCookies();
  });

  test('an answer whose client data names another origin is refused and recorded', async () => {
    const { page } = person;
    const before = await refusals('origin');
    await signIn(page, alice.username, alice.password);
    await tamperNextAnswer(page, '/sign-in/passkey', 'https://latchkey.example.net');
    await clickAndLoad(page, page.getByRole('button', { name: 'Use Your Passkey or Security Key' }));
    assert.equal(new URL(page.url()).pathname, '/sign-in/passkey');
    assert.match(await bannerText(page), /was not accepted/);
    assert.equal(await refusals('origin'), before + 1);
    // It counted as a failed second factor.
    assert.equal((await userRow(alice.id)).mfa_failed_count, 1);
    // The page offers the passkey again with a fresh challenge; the real answer now passes.
    await clickAndLoad(page, page.getByRole('button', { name: 'Use Your Passkey or Security Key' }));
    assert.equal(new URL(page.url()).pathname, '/profile');
    assert.equal((await userRow(alice.id)).mfa_failed_count, 0);
    await page.context().clearCookies();
  });

  test("user A's passkey presented for user B is refused", async () => {
    // Bob has a security key of his own (stored as registered); the browser holds only Alice's.
    const bob = await createUserVia(env, owner, 'bob');
    await env.deps.db
      .insertInto('passkeys')
      .values({
        id: 'b0b0000000000000000000000000000b',
        user_id: bob.id,
        credential_id: Buffer.from('bob-credential').toString('base64url'),
        public_key: Buffer.from('not a key').toString('base64url'),
        sign_count: 0,
        transports: 'usb',
        aaguid: '00000000-0000-0000-0000-000000000000',
        backup_eligible: 0,
        backed_up: 0,
        nickname: 'Bob key',
        created_at: env.clock.now(),
        last_used_at: null,
      })
      .execute();
    await env.deps.db
      .updateTable('users')
      .set({ mfa_enabled: 1, factor_type: 'PASSKEY' })
      .where('id', '=', bob.id)
      .execute();
    const { page } = person;
    const before = await refusals('wrong user');
    await signIn(page, bob.username, bob.password);
    assert.equal(new URL(page.url()).pathname, '/sign-in/passkey');
    // Bob's challenge, answered by whatever discoverable passkey the browser has: Alice's.
    await page.evaluate(() => {
      const form = document.querySelector('form[data-passkey]') as HTMLFormElement;
      const options = JSON.parse(form.dataset.options ?? '{}');
      options.allowCredentials = [];
      form.dataset.options = JSON.stringify(options);
    });
    await clickAndLoad(page, page.getByRole('button', { name: 'Use Your Passkey or Security Key' }));
    assert.equal(new URL(page.url()).pathname, '/sign-in/passkey');
    assert.match(await bannerText(page), /was not accepted/);
    assert.equal(await refusals('wrong user'), before + 1);
    await page.context().clearCookies();
  });

  test('a signature counter that goes backwards (a copied key) is refused and recorded', async () => {
    const { page, cdp, authenticatorId } = person;
    const { credentials } = await cdp.send('WebAuthn.getCredentials', { authenticatorId });
    const [credential] = credentials;
    assert.ok(credential);
    // The copy: the same private key, with a counter behind the one we have seen.
    await cdp.send('WebAuthn.removeCredential', { authenticatorId, credentialId: credential.credentialId });
    await cdp.send('WebAuthn.addCredential', {
      authenticatorId,
      credential: { ...credential, signCount: 0 },
    });
    const before = await refusals('counter');
    await signIn(page, alice.username, alice.password);
    await clickAndLoad(page, page.getByRole('button', { name: 'Use Your Passkey or Security Key' }));
    assert.equal(new URL(page.url()).pathname, '/sign-in/passkey');
    assert.match(await bannerText(page), /was not accepted/);
    assert.equal(await refusals('counter'), before + 1);
    // Back to a counter ahead of ours, for the tests that follow.
    await cdp.send('WebAuthn.removeCredential', { authenticatorId, credentialId: credential.credentialId });
    await cdp.send('WebAuthn.addCredential', {
      authenticatorId,
      credential: { ...credential, signCount: 1000 },
    });
    await clickAndLoad(page, page.getByRole('button', { name: 'Use Your Passkey or Security Key' }));
    assert.equal(new URL(page.url()).pathname, '/profile');
  });

  test('the v2.0 API lists, renames and deletes passkeys, for the callers of multi-factor resources', async () => {
    const path = `/v2.0/users/${alice.id}/RAX-AUTH/multi-factor/passkeys`;
    const listed = await env.request('GET', path, { token: owner.token });
    assert.equal(listed.status, 200, listed.text);
    const [passkey] = listed.body['latchkey:passkeys'] as unknown as {
      id: string;
      nickname: string;
      lastUsed: string;
    }[];
    assert.equal(passkey?.nickname, 'Work laptop');
    assert.ok(passkey?.lastUsed);
    const renamed = await env.request('PUT', `${path}/${passkey?.id}`, {
      token: owner.token,
      body: { 'latchkey:passkey': { nickname: 'Laptop' } },
    });
    assert.equal(renamed.status, 200, renamed.text);
    assert.equal((renamed.body['latchkey:passkey'] as { nickname: string }).nickname, 'Laptop');
    const blank = await env.request('PUT', `${path}/${passkey?.id}`, {
      token: owner.token,
      body: { 'latchkey:passkey': { nickname: ' ' } },
    });
    assert.equal(blank.status, 400);
    assert.equal(blank.body.badRequest?.message, PasskeyMessages.nicknameMissing);
    await env.request('PUT', `${path}/${passkey?.id}`, {
      token: owner.token,
      body: { 'latchkey:passkey': { nickname: 'Work laptop' } },
    });
    // Another user's passkey is not found under this user.
    const bobs = await env.deps.db
      .selectFrom('passkeys')
      .select(['id', 'user_id'])
      .where('id', '=', 'b0b0000000000000000000000000000b')
      .executeTakeFirstOrThrow();
    const crossed = await env.request('DELETE', `${path}/${bobs.id}`, { token: owner.token });
    assert.equal(crossed.status, 404);
    const removed = await env.request(
      'DELETE',
      `/v2.0/users/${bobs.user_id}/RAX-AUTH/multi-factor/passkeys/${bobs.id}`,
      {
        token: owner.token,
      },
    );
    assert.equal(removed.status, 204, removed.text);
    assert.equal((await passkeysOf(bobs.user_id)).length, 0);
  });

  test('Delete, with confirmation: the last passkey gone, multi-factor turns off with it', async () => {
    const { page } = person;
    await page.goto('/profile');
    await clickAndLoad(page, page.locator('#passkeys').getByRole('link', { name: /Delete/ }));
    assert.match(await page.getByRole('heading', { level: 1 }).innerText(), /Delete passkey Work laptop\?/);
    await submit(page, 'Delete');
    assert.match(await bannerText(page), /Passkey Work laptop deleted/);
    assert.equal((await passkeysOf(alice.id)).length, 0);
    const user = await userRow(alice.id);
    assert.equal(user.mfa_enabled, 0);
    assert.equal(user.factor_type, null);
  });
});
