import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import {
  assertAccessible,
  bannerText,
  browserUnavailable,
  clickAndLoad,
  currentCode,
  enterPasscode,
  logOut,
  newPerson,
  type PanelEnv,
  readQrCode,
  signIn,
  submit,
  usePanelBrowser,
} from './support/browser.js';
import { createAccount } from './support/harness.js';
import { enableOtp, secretOf } from './support/mfa.js';

const skip = browserUnavailable();

/** What the profile's Security Settings say about MFA. */
async function mfaState(page: Page): Promise<string> {
  return page.locator('#security .setting').first().locator('.badge').innerText();
}

describe('control panel: authenticator app and bypass codes', { skip }, () => {
  let env: PanelEnv;
  let browser: Browser;

  usePanelBrowser((started) => {
    ({ env, browser } = started);
  });

  test('an authenticator set up from the QR code on screen signs its user in after the forced log out', async () => {
    const user = await createAccount(env);
    const context = await newPerson(browser, env);
    const page = await context.newPage();
    await signIn(page, user.username, user.password);
    assert.match(page.url(), /\/profile$/);
    assert.equal(await mfaState(page), 'Off');
    await assertAccessible(page, 'My Profile & Settings');

    await clickAndLoad(page, page.locator('#security').getByRole('link', { name: 'Enable' }));
    await assertAccessible(page, 'the enable page');
    await page.getByLabel('Use an Authenticator').check();
    await submit(page, 'Continue');
    assert.match(page.url(), /\/profile\/authenticator\/new$/);
    await assertAccessible(page, 'the new authenticator page');
    await page.getByLabel('Device nickname').fill('Work phone');
    await submit(page, 'Add Device');

    // The pairing page shows a secret: never stored by the browser.
    const reloaded = await page.reload();
    assert.equal(reloaded?.headers()['cache-control'], 'no-store');
    await assertAccessible(page, 'the pairing page');
    // Read as a phone would: from the pixels of the picture.
    const uri = await readQrCode(page.getByRole('img', { name: /QR code/ }));
    assert.match(uri, /^otpauth:\/\/totp\/Latchkey:Work%20phone\?secret=[A-Z2-7]+&issuer=Latchkey$/);
    const secret = secretOf(uri);
    const shown = await page.locator('#secret-key').innerText();
    assert.equal(shown.replaceAll(' ', ''), secret);
    assert.match(shown, /^([A-Z2-7]{4} )+[A-Z2-7]{1,4}$/);

    const makeDefault = page.getByLabel('Make this my default authentication method');
    assert.equal(await makeDefault.isChecked(), true);
    await page.getByLabel('Passcode from the app').fill('000000');
    await submit(page, 'Verify Authenticator App');
    assert.match(await page.locator('.field-error').innerText(), /incorrect or has expired/);
    await page.getByLabel('Passcode from the app').fill(currentCode(env, secret));
    await submit(page, 'Verify Authenticator App');

    // Verified with the box ticked: MFA is on and the user is logged out (seed 000, step 6).
    assert.match(page.url(), /\/sign-in$/);
    assert.match(await bannerText(page), /default authentication method/);
    await page.goto('/profile');
    assert.match(page.url(), /\/sign-in$/);

    env.clock.advance(30_000);
    await signIn(page, user.username, user.password);
    assert.match(page.url(), /\/sign-in\/passcode$/);
    await enterPasscode(page, currentCode(env, secret));
    assert.match(page.url(), /\/profile$/);
    assert.equal(await mfaState(page), 'On');
    assert.match(await page.locator('#devices').innerText(), /Work phone\s+Authenticator app\s+Verified/);
    await context.close();
  });

  test('a device named like markup is shown as text, never run', async () => {
    const hostile = '<img src=x onerror=alert(1)>';
    const user = await createAccount(env);
    const context = await newPerson(browser, env);
    const page = await context.newPage();
    let dialogs = 0;
    page.on('dialog', async (dialog) => {
      dialogs += 1;
      await dialog.dismiss();
    });
    await signIn(page, user.username, user.password);
    await page.goto('/profile/authenticator/new');
    await page.getByLabel('Device nickname').fill(hostile);
    await submit(page, 'Add Device');
    assert.equal(await page.locator('strong.device-name').innerText(), hostile);
    await page.goto('/profile');
    assert.equal(await page.locator('td.device-name').innerText(), hostile);
    assert.equal(await page.locator('img[src="x"]').count(), 0);
    assert.equal(dialogs, 0);
    await context.close();
  });

  test('bypass codes generated in the panel are shown once and each logs in once', async () => {
    const user = await createAccount(env);
    const secret = await enableOtp(env, user);
    const context = await newPerson(browser, env);
    const page = await context.newPage();
    await signIn(page, user.username, user.password);
    await enterPasscode(page, currentCode(env, secret));

    await clickAndLoad(page, page.getByRole('link', { name: 'Generate Bypass Codes' }));
    assert.match(await bannerText(page), /earlier ones: every code you generated before stops working/);
    await assertAccessible(page, 'the bypass code form');
    await page.getByLabel('Number of codes').selectOption('3');
    await submit(page, 'Generate Bypass Codes');
    const codes = await page.locator('#bypass-codes li').allInnerTexts();
    assert.equal(codes.length, 3);
    for (const code of codes) assert.match(code, /^\d{8}$/);
    await assertAccessible(page, 'the bypass codes page');
    // The download is a text file made on the server; the copy button appears with the script.
    const download = await page.getByRole('link', { name: 'Download as Text File' }).getAttribute('href');
    const file = decodeURIComponent(download?.replace(/^data:text\/plain;charset=utf-8,/, '') ?? '');
    for (const code of codes) assert.ok(file.includes(code));
    assert.equal(await page.getByRole('button', { name: 'Copy Codes' }).isVisible(), true);

    const [first = '', second = ''] = codes;
    await logOut(page);
    assert.match(await bannerText(page), /logged out/);
    await signIn(page, user.username, user.password);
    await enterPasscode(page, first);
    assert.match(page.url(), /\/profile$/);
    await logOut(page);

    await signIn(page, user.username, user.password);
    await enterPasscode(page, first);
    assert.match(await page.locator('.field-error').innerText(), /incorrect or has expired/);
    await enterPasscode(page, second);
    assert.match(page.url(), /\/profile$/);

    // A new batch makes the rest of the old one stop working.
    await page.goto('/profile/bypass-codes');
    await page.getByLabel('Number of codes').selectOption('1');
    await submit(page, 'Generate Bypass Codes');
    await logOut(page);
    await signIn(page, user.username, user.password);
    await enterPasscode(page, codes[2] ?? '');
    assert.match(await page.locator('.field-error').innerText(), /incorrect or has expired/);
    await context.close();
  });
});
