/**
 * `npm run screenshots`: a screenshot of each main page of the control panel, at desktop width
 * and at phone width (360 px), into docs/screenshots/. Runs a throwaway server with made-up
 * users, in headless Chromium (the Debian package).
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Page } from 'playwright-core';
import {
  browserUnavailable,
  currentCode,
  enterPasscode,
  launchChromium,
  newPerson,
  type PanelEnv,
  signIn,
  startPanelEnv,
  submit,
} from '../test/support/browser.js';
import { createAccount, type TestUser } from '../test/support/harness.js';
import { enableOtp, enableSms } from '../test/support/mfa.js';
import { shootAdministration } from './admin-screens.js';

const OUT = path.join(import.meta.dirname, '..', 'docs', 'screenshots');
const WIDTHS = { desktop: 1280, phone: 360 } as const;

async function shoot(page: Page, name: string): Promise<void> {
  for (const [label, width] of Object.entries(WIDTHS)) {
    await page.setViewportSize({ width, height: label === 'phone' ? 740 : 800 });
    const file = path.join(OUT, `${name}-${label}.png`);
    await page.screenshot({ path: file, fullPage: true });
    console.log(path.relative(process.cwd(), file));
  }
  await page.setViewportSize({ width: WIDTHS.desktop, height: 800 });
}

async function rename(env: PanelEnv, user: TestUser, username: string): Promise<TestUser> {
  await env.deps.db
    .updateTable('users')
    .set({ username, username_key: username })
    .where('id', '=', user.id)
    .execute();
  return { ...user, username };
}

async function main(): Promise<void> {
  const unavailable = browserUnavailable();
  if (unavailable) throw new Error(unavailable);
  fs.mkdirSync(OUT, { recursive: true });
  const env = await startPanelEnv();
  const browser = await launchChromium();
  try {
    // alice: an authenticator and a phone, MFA on with the authenticator.
    const alice = await rename(env, await createAccount(env), 'alice');
    // A phone not verified yet, added before MFA goes on (which ends this password-only token).
    await env.request('POST', `/v2.0/users/${alice.id}/RAX-AUTH/multi-factor/mobile-phones`, {
      token: alice.token,
      body: { 'RAX-AUTH:mobilePhone': { number: '+12015550123' } },
    });
    const secret = await enableOtp(env, alice);
    const context = await newPerson(browser, env);
    const page = await context.newPage();
    await page.goto('/sign-in');
    await shoot(page, 'sign-in');
    await signIn(page, alice.username, alice.password);
    await enterPasscode(page, currentCode(env, secret));
    await shoot(page, 'profile');
    await page.goto('/profile/authenticator/new');
    await page.getByLabel('Device nickname').fill('Work phone');
    await submit(page, 'Add Device');
    await shoot(page, 'authenticator-pairing');
    await page.goto('/profile/bypass-codes');
    await submit(page, 'Generate Bypass Codes');
    await shoot(page, 'bypass-codes');
    await context.close();

    // bob: SMS, for the passcode page and the SMS device pages.
    const bob = await rename(env, await createAccount(env), 'bob');
    await enableSms(env, bob, '+12015550188');
    const bobContext = await newPerson(browser, env);
    const bobPage = await bobContext.newPage();
    await signIn(bobPage, bob.username, bob.password);
    await shoot(bobPage, 'passcode-sms');

    // carol: required to have MFA and has none: the forced setup.
    const carol = await rename(env, await createAccount(env), 'carol');
    await env.request('PUT', `/v2.0/users/${carol.id}/RAX-AUTH/multi-factor`, {
      token: carol.token,
      body: { 'RAX-AUTH:multiFactor': { userMultiFactorEnforcementLevel: 'REQUIRED' } },
    });
    const carolContext = await newPerson(browser, env);
    const carolPage = await carolContext.newPage();
    await signIn(carolPage, carol.username, carol.password);
    await shoot(carolPage, 'setup-required');
    await carolPage.goto('/setup/method');
    await shoot(carolPage, 'setup-choose-method');
    await carolPage.goto('/setup/sms/new');
    await carolPage.getByLabel('Phone number').fill('201 555 0199');
    await submit(carolPage, 'Add SMS Device');
    await shoot(carolPage, 'setup-verify-sms');

    await shootAdministration(env, browser, shoot, rename);
  } finally {
    await browser.close();
    await env.close();
  }
}

await main();
