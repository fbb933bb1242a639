import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
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
  signIn,
  submit,
  usePanelBrowser,
} from './support/browser.js';
import { createAccount, type TestEnv, type TestUser } from './support/harness.js';
import { enableOtp } from './support/mfa.js';

const skip = browserUnavailable();

/** A verified phone, over the API (MFA stays as it is). */
async function verifiedPhone(env: TestEnv, user: TestUser, number: string): Promise<void> {
  const base = `/v2.0/users/${user.id}/RAX-AUTH/multi-factor/mobile-phones`;
  const added = await env.request('POST', base, {
    token: user.token,
    body: { 'RAX-AUTH:mobilePhone': { number } },
  });
  const id = (added.body['RAX-AUTH:mobilePhone'] as { id: string }).id;
  await env.request('POST', `${base}/${id}/verificationcode`, { token: user.token });
  const pin = /(\d{4})\D*$/.exec(env.sms.last(number)?.body ?? '')?.[1];
  const verified = await env.request('POST', `${base}/${id}/verify`, {
    token: user.token,
    body: { 'RAX-AUTH:verificationCode': { code: pin } },
  });
  assert.equal(verified.status, 204, verified.text);
}

describe('control panel: My Profile & Settings', { skip }, () => {
  let env: PanelEnv;
  let browser: Browser;

  usePanelBrowser((started) => {
    ({ env, browser } = started);
  });

  test('default method, device pages, disable and remove all devices, each page accessible', async () => {
    const user = await createAccount(env);
    const secret = await enableOtp(env, user);
    // Turning MFA on ended the password token; an API key login needs no second factor.
    const byKey = await env.request('POST', '/v2.0/tokens', {
      body: { auth: { 'RAX-KSKEY:apiKeyCredentials': { username: user.username, apiKey: user.apiKey } } },
    });
    await verifiedPhone(
      env,
      { ...user, token: (byKey.body.access as { token: { id: string } }).token.id },
      '+12015550142',
    );
    const context = await newPerson(browser, env);
    const page = await context.newPage();
    await signIn(page, user.username, user.password);
    await enterPasscode(page, currentCode(env, secret));
    const devices = page.locator('#devices');
    assert.match(await devices.innerText(), /phone app[\s\S]*Verified[\s\S]*\+1 201 555 0142[\s\S]*Verified/);

    // Change the default method (seed 000).
    await page.getByLabel('Default authentication method').selectOption('SMS');
    await submit(page, 'Change Default Method');
    assert.match(await bannerText(page), /default authentication method is now: SMS/);
    await assertAccessible(page, 'the profile with both devices');

    // The phone in use cannot be deleted; the seeds' Manage leads to the device.
    await clickAndLoad(page, devices.getByRole('button', { name: 'Delete phone +1 201 555 0142' }));
    assert.match(await bannerText(page), /cannot be deleted/);
    await clickAndLoad(page, devices.getByRole('link', { name: 'Manage phone +1 201 555 0142' }));
    assert.equal(await page.locator('h1').innerText(), 'SMS device');
    await assertAccessible(page, 'the SMS device page');
    await clickAndLoad(page, page.getByRole('link', { name: 'Back to My Profile & Settings' }));
    await page.getByLabel('Default authentication method').selectOption('OTP');
    await submit(page, 'Change Default Method');
    await clickAndLoad(page, devices.getByRole('link', { name: 'Manage authenticator phone app' }));
    assert.equal(await page.locator('h1').innerText(), 'Authenticator app');
    await assertAccessible(page, 'the authenticator page');
    await clickAndLoad(page, page.getByRole('link', { name: 'Back to My Profile & Settings' }));

    // Disable, with a confirmation.
    await clickAndLoad(page, page.locator('#security').getByRole('link', { name: 'Disable' }));
    await assertAccessible(page, 'the disable confirmation');
    await submit(page, 'Disable');
    assert.match(await bannerText(page), /Multi-factor authentication is off/);
    assert.equal(await page.locator('#security .badge').first().innerText(), 'Off');

    // Remove all devices, with a confirmation.
    await clickAndLoad(page, page.getByRole('link', { name: 'Remove all devices' }));
    await assertAccessible(page, 'the remove-all confirmation');
    await submit(page, 'Remove All Devices');
    assert.match(await bannerText(page), /All devices were removed/);
    assert.match(await devices.innerText(), /No devices yet/);
    await context.close();
  });

  test('an unverified authenticator is finished later from its Verify link', async () => {
    const user = await createAccount(env);
    const context = await newPerson(browser, env);
    const page = await context.newPage();
    await signIn(page, user.username, user.password);
    await page.goto('/profile/authenticator/new');
    await page.getByLabel('Device nickname').fill('Tablet');
    await submit(page, 'Add Device');
    await page.goto('/profile');
    assert.match(await page.locator('#devices').innerText(), /Tablet[\s\S]*Not verified/);
    await clickAndLoad(page, page.getByRole('link', { name: 'Verify authenticator Tablet' }));
    const secret = (await page.locator('#secret-key').innerText()).replaceAll(' ', '');
    await page.getByLabel('Make this my default authentication method').uncheck();
    await page.getByLabel('Passcode from the app').fill(currentCode(env, secret));
    await submit(page, 'Verify Authenticator App');
    // Not made the default: still logged in, MFA still off.
    assert.match(page.url(), /\/profile$/);
    assert.match(await bannerText(page), /“Tablet” is verified/);
    assert.match(await page.locator('#devices').innerText(), /Tablet[\s\S]*Verified/);
    assert.equal(await page.locator('#security .badge').first().innerText(), 'Off');
    await context.close();
  });

  test('the HTML error pages are accessible', async () => {
    const context = await newPerson(browser, env, 360);
    const page = await context.newPage();
    const response = await page.goto('/no/such/page');
    assert.equal(response?.status(), 404);
    assert.equal(await page.locator('h1').innerText(), 'Page not found');
    await assertAccessible(page, 'the 404 page');
    await context.close();
  });
});
