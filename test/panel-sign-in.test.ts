import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import type { Browser } from 'playwright-core';
import { Messages } from '../src/core/errors.js';
import {
  assertAccessible,
  bannerText,
  browserUnavailable,
  currentCode,
  enterPasscode,
  newPerson,
  type PanelEnv,
  signIn,
  usePanelBrowser,
} from './support/browser.js';
import { createAccount, passwordLogin, type TestUser } from './support/harness.js';
import { enableOtp } from './support/mfa.js';

const skip = browserUnavailable();

describe('control panel: sign-in', { skip }, () => {
  let env: PanelEnv;
  let browser: Browser;
  let otpUser: TestUser;
  let otpSecret: string;

  usePanelBrowser((started) => {
    ({ env, browser } = started);
  });
  before(async () => {
    otpUser = await createAccount(env);
    otpSecret = await enableOtp(env, otpUser);
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

  test('keyboard alone signs in: the fields take focus, Tab moves, Enter submits', async () => {
    const user = await createAccount(env);
    const secret = await enableOtp(env, user);
    const context = await newPerson(browser, env);
    const page = await context.newPage();
    await page.goto('/sign-in');
    // The user-name field has the focus when the page is there: typing goes straight into it.
    await page.waitForFunction(() => document.activeElement?.getAttribute('name') === 'username');
    await page.keyboard.type(user.username);
    await page.keyboard.press('Tab');
    await page.keyboard.type(user.password);
    await Promise.all([page.waitForURL('**/sign-in/passcode'), page.keyboard.press('Enter')]);
    // As on the first page: the passcode field has the focus once the page is there.
    await page.waitForFunction(() => document.activeElement?.getAttribute('name') === 'passcode');
    await page.keyboard.type(currentCode(env, secret));
    await Promise.all([page.waitForURL('**/profile'), page.keyboard.press('Enter')]);
    // The user-name menu opens from the keyboard too.
    await page.locator('details.user-menu > summary').focus();
    await page.keyboard.press('Enter');
    assert.equal(await page.getByRole('button', { name: 'Log Out' }).isVisible(), true);
    await context.close();
  });

  test('wrong passcodes lock the account exactly as through the API', async () => {
    const user = await createAccount(env);
    const secret = await enableOtp(env, user);
    const context = await newPerson(browser, env);
    const page = await context.newPage();
    await signIn(page, user.username, user.password);
    const threshold = env.deps.config.lockoutThreshold;
    const wrong = currentCode(env, secret) === '000000' ? '111111' : '000000';
    for (let attempt = 1; attempt < threshold; attempt++) {
      await enterPasscode(page, wrong);
      assert.match(
        await page.locator('.field-error').innerText(),
        /incorrect or has expired/,
        `attempt ${attempt}`,
      );
    }
    await enterPasscode(page, wrong);
    assert.match(page.url(), /\/sign-in$/);
    assert.match(
      await bannerText(page),
      new RegExp(`locked because an incorrect passcode was entered more than ${threshold - 1} times`),
    );
    // The API sees the same lock: it is the same counter.
    const api = await passwordLogin(env, user.username, user.password);
    assert.equal(api.status, 401);
    assert.equal((api.body.unauthorized as { message: string }).message, Messages.locked);
    // And so does the next sign-in here, even with the right password.
    await signIn(page, user.username, user.password);
    assert.match(await bannerText(page), /locked/);
    await context.close();
  });

  test('a passcode entered after the sign-in expired asks to log in again', async () => {
    const user = await createAccount(env);
    const secret = await enableOtp(env, user);
    const context = await newPerson(browser, env);
    const page = await context.newPage();
    await signIn(page, user.username, user.password);
    env.clock.advance(env.deps.config.mfaSessionTtlSeconds * 1000 + 1000);
    await enterPasscode(page, currentCode(env, secret));
    assert.match(page.url(), /\/sign-in$/);
    assert.match(await bannerText(page), /passcode has expired\. Log in again/);
    await context.close();
  });
});
