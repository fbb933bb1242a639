import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Browser, Page } from 'playwright-core';
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
  passwordLogin,
  type TestEnv,
  type TestUser,
} from './support/harness.js';
import { enableOtp, sendPasscode, startMfaLogin, totpAt } from './support/mfa.js';
import { freePort } from './support/process.js';

const skip = browserUnavailable();

describe('an account that requires passkeys, end to end (real Chromium, virtual authenticator)', {
  skip,
}, () => {
  let env: TestEnv;
  let browser: Browser;
  let page: Page;
  let carol: TestUser;
  let carolSecret: string;

  before(async () => {
    const port = await freePort();
    const baseURL = `http://localhost:${port}`;
    env = await createTestEnv({ env: { LATCHKEY_PUBLIC_URL: baseURL } });
    await env.app.listen({ host: '127.0.0.1', port });
    const admin = await createAdmin(env);
    const owner = await createAccount(env, admin);
    // Created before the owner turns multi-factor on (which ends the owner's password token).
    carol = await createUserVia(env, owner, 'carol');
    carolSecret = await enableOtp(env, carol);
    const ownerSecret = await enableOtp(env, owner);
    env.clock.advance(30_000);
    const { sessionId } = await startMfaLogin(env, owner);
    const ownerLogin = await sendPasscode(env, sessionId, totpAt(ownerSecret, env.clock.now()));
    const ownerToken = (ownerLogin.body.access as { token: { id: string } }).token.id;
    const put = await env.request('PUT', `/v2.0/RAX-AUTH/domains/${owner.domainId}/multi-factor`, {
      token: ownerToken,
      body: {
        'RAX-AUTH:multiFactorDomain': {
          domainMultiFactorEnforcementLevel: 'REQUIRED',
          'latchkey:passkeysOnly': true,
        },
      },
    });
    assert.equal(put.status, 204, put.text);
    browser = await launchChromium();
    const context = await browser.newContext({ baseURL, viewport: { width: 1280, height: 900 } });
    page = await context.newPage();
    const cdp = await context.newCDPSession(page);
    await cdp.send('WebAuthn.enable');
    await cdp.send('WebAuthn.addVirtualAuthenticator', {
      options: {
        protocol: 'ctap2',
        transport: 'internal',
        hasResidentKey: true,
        hasUserVerification: true,
        isUserVerified: true,
        automaticPresenceSimulation: true,
      },
    });
  });
  after(async () => {
    await browser?.close();
    await env?.close();
  });

  test('a passcode, straight to adding a passkey, then the passkey alone', async () => {
    await signIn(page, carol.username, carol.password);
    assert.equal(new URL(page.url()).pathname, '/sign-in/passcode');
    env.clock.advance(30_000);
    await enterPasscode(page, totpAt(carolSecret, env.clock.now()));
    assert.equal(new URL(page.url()).pathname, '/profile/passkeys/new');
    assert.match(await bannerText(page), /requires a passkey or security key/);
    await assertAccessible(page, 'adding a passkey where the account requires one');
    await page.getByLabel('Nickname').fill('Carol laptop');
    await submit(page, 'Continue');
    await clickAndLoad(page, page.getByRole('button', { name: 'Add Passkey or Security Key' }));
    // The passcode's last session did its one job and ended: from now on, the passkey.
    assert.equal(new URL(page.url()).pathname, '/sign-in');
    assert.match(await bannerText(page), /Passkey Carol laptop added\. Log in again/);
    await page.goto('/profile');
    assert.equal(new URL(page.url()).pathname, '/sign-in');

    await signIn(page, carol.username, carol.password);
    assert.equal(new URL(page.url()).pathname, '/sign-in/passkey');
    assert.equal(await page.getByRole('button', { name: 'Use Another Method' }).count(), 0);
    await assertAccessible(page, 'the passkey step where the account requires passkeys');
    await clickAndLoad(page, page.getByRole('button', { name: 'Use Your Passkey or Security Key' }));
    assert.equal(new URL(page.url()).pathname, '/profile');

    // Her password still gets no token on the API.
    assert.equal((await passwordLogin(env, carol.username, carol.password)).status, 403);
  });
});
