import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import type { Browser } from 'playwright-core';
import {
  assertAccessible,
  bannerText,
  browserUnavailable,
  clickAndLoad,
  currentCode,
  enterPasscode,
  newPerson,
  type PanelEnv,
  readQrCode,
  signIn,
  submit,
  usePanelBrowser,
} from './support/browser.js';
import { createAccount, createUserVia, PASSWORD, type TestUser, uniqueName } from './support/harness.js';
import { enableOtp, lastSmsPasscode, secretOf } from './support/mfa.js';

const skip = browserUnavailable();

describe('control panel: required multi-factor authentication', { skip }, () => {
  let env: PanelEnv;
  let browser: Browser;
  let owner: TestUser;

  usePanelBrowser((started) => {
    ({ env, browser } = started);
  });
  before(async () => {
    owner = await createAccount(env);
    await enableOtp(env, owner);
  });

  /** The owner's token by API key (turning MFA on ended its password token). */
  async function ownerToken(): Promise<string> {
    const login = await env.request('POST', '/v2.0/tokens', {
      body: { auth: { 'RAX-KSKEY:apiKeyCredentials': { username: owner.username, apiKey: owner.apiKey } } },
    });
    return (login.body.access as { token: { id: string } }).token.id;
  }

  async function newUser(): Promise<TestUser> {
    return createUserVia(env, { ...owner, token: await ownerToken() });
  }

  async function requireForAccount(): Promise<void> {
    const token = await ownerToken();
    const set = await env.request('PUT', `/v2.0/RAX-AUTH/domains/${owner.domainId}/multi-factor`, {
      token,
      body: { 'RAX-AUTH:multiFactorDomain': { domainMultiFactorEnforcementLevel: 'REQUIRED' } },
    });
    assert.equal(set.status, 204, set.text);
  }

  test('a user logged in without MFA is logged out at the next click when the account requires it, then guided through setup', async () => {
    const user = await newUser();
    const context = await newPerson(browser, env);
    const page = await context.newPage();
    await signIn(page, user.username, user.password);
    assert.match(page.url(), /\/profile$/);

    await requireForAccount();

    // The next click: seed 000's force-logout message.
    await clickAndLoad(page, page.getByRole('link', { name: 'Add authenticator app' }));
    assert.match(page.url(), /\/sign-in$/);
    assert.match(await bannerText(page), /account now requires multi-factor authentication/);
    await assertAccessible(page, 'the sign-in page with the force-logout message');

    // At the next sign-in, the setup (seed 003).
    await signIn(page, user.username, user.password);
    assert.match(page.url(), /\/setup$/);
    await assertAccessible(page, 'the setup page');
    // Nothing else is open to the setup session.
    await page.goto('/profile');
    assert.match(page.url(), /\/setup$/);
    await clickAndLoad(page, page.getByRole('link', { name: 'Set Up Multi-Factor Authentication' }));
    assert.equal(await page.locator('h1').innerText(), 'Choose Your Multi-Factor Authentication Method');
    await assertAccessible(page, 'the method chooser');
    await page.getByLabel('Use an Authenticator').check();
    await submit(page, 'Continue');
    await page.getByLabel('Device nickname').fill('Phone');
    await submit(page, 'Add Device');
    const secret = secretOf(await readQrCode(page.getByRole('img', { name: /QR code/ })));
    await page.getByLabel('Passcode from the app').fill(currentCode(env, secret));
    await submit(page, 'Verify Code');
    assert.equal(await page.locator('h1').innerText(), 'Multi-factor authentication is set up');
    await assertAccessible(page, 'the setup done page');
    await clickAndLoad(page, page.getByRole('link', { name: 'Got It' }));
    assert.match(page.url(), /\/sign-in$/);

    env.clock.advance(30_000);
    await signIn(page, user.username, user.password);
    await enterPasscode(page, currentCode(env, secret));
    assert.match(page.url(), /\/profile$/);
    await context.close();
  });

  test('the forced setup by SMS works with JavaScript turned off', async () => {
    await requireForAccount();
    // Created into an account that already requires MFA: it can never log in without it.
    const username = uniqueName('required');
    const created = await env.request('POST', '/v2.0/users', {
      token: await ownerToken(),
      body: { user: { username, enabled: true, 'OS-KSADM:password': PASSWORD } },
    });
    assert.equal(created.status, 201, created.text);
    const user = { username, password: PASSWORD };
    const context = await browser.newContext({ baseURL: env.baseUrl, javaScriptEnabled: false });
    const page = await context.newPage();
    await signIn(page, user.username, user.password);
    assert.match(page.url(), /\/setup$/);
    await clickAndLoad(page, page.getByRole('link', { name: 'Set Up Multi-Factor Authentication' }));
    await page.getByLabel('SMS').check();
    await submit(page, 'Continue');
    await page.getByLabel('Country code').selectOption('GB');
    await page.getByLabel('Phone number').fill('07911 123456');
    await submit(page, 'Add SMS Device');
    const pin = /(\d{4})\D*$/.exec(env.sms.last('+447911123456')?.body ?? '')?.[1] ?? '';
    await page.getByLabel('PIN').fill(pin);
    await submit(page, 'Verify SMS Device');
    await clickAndLoad(page, page.getByRole('link', { name: 'Got It' }));
    await signIn(page, user.username, user.password);
    assert.match(await page.locator('main').innerText(), /\+44\*+3456/);
    await enterPasscode(page, lastSmsPasscode(env, '+447911123456'));
    assert.match(page.url(), /\/profile$/);
    await context.close();
  });
});
