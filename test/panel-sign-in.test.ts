import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Browser } from 'playwright-core';
import {
  assertAccessible,
  bannerText,
  browserUnavailable,
  currentCode,
  enterPasscode,
  launchChromium,
  newPerson,
  type PanelEnv,
  signIn,
  startPanelEnv,
} from './support/browser.js';
import { createAccount, type TestUser } from './support/harness.js';
import { enableOtp } from './support/mfa.js';

const skip = browserUnavailable();

describe('control panel: sign-in', { skip }, () => {
  let env: PanelEnv;
  let browser: Browser;
  let otpUser: TestUser;
  let otpSecret: string;

  before(async () => {
    env = await startPanelEnv();
    browser = await launchChromium();
    otpUser = await createAccount(env);
    otpSecret = await enableOtp(env, otpUser);
  });
  after(async () => {
    await browser?.close();
    await env?.close();
  });

  test('an OTP user signs in with the password, then a code computed from the secret', async () => {
    const context = await newPerson(browser, env);
    const page = await context.newPage();
    await signIn(page, otpUser.username, otpUser.password);
    assert.match(page.url(), /\/sign-in\/passcode$/);
    assert.match(await page.locator('main').innerText(), /authenticator app/);
    await assertAccessible(page, 'the passcode page');
    await enterPasscode(page, currentCode(env, otpSecret));
    assert.match(page.url(), /\/profile$/);
    assert.equal(await page.locator('h1').first().innerText(), 'My Profile & Settings');
    await context.close();
  });

  test('a wrong password says so, and the sign-in page is accessible', async () => {
    const context = await newPerson(browser, env);
    const page = await context.newPage();
    await signIn(page, otpUser.username, 'Wrongpass1');
    assert.match(await bannerText(page), /username or password is incorrect/);
    assert.equal(await page.getByLabel('Username').inputValue(), otpUser.username);
    await assertAccessible(page, 'the sign-in page');
    await context.close();
  });
});
