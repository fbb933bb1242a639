import type { Page } from 'playwright-core';
import { clickAndLoad, currentCode, enterPasscode, type PanelEnv, signIn } from './browser.js';
import { createAccount, createUserVia, type TestUser } from './harness.js';
import { enableOtp } from './mfa.js';

/** An account whose owner has an authenticator (so it may require MFA), and its users. */
export interface AdminAccount {
  owner: TestUser;
  ownerSecret: string;
  users: TestUser[];
}

/** A new account with `userCount` users, created before the owner's MFA ends its password token. */
export async function accountWithUsers(env: PanelEnv, userCount: number): Promise<AdminAccount> {
  const owner = await createAccount(env);
  const users: TestUser[] = [];
  for (let index = 0; index < userCount; index++) users.push(await createUserVia(env, owner, 'member'));
  const ownerSecret = await enableOtp(env, owner);
  return { owner, ownerSecret, users };
}

/** Sign in with the password and the authenticator's current code (a fresh time step each time). */
export async function signInWithOtp(
  page: Page,
  env: PanelEnv,
  user: TestUser,
  secret: string,
): Promise<void> {
  env.clock.advance(30_000);
  await signIn(page, user.username, user.password);
  await enterPasscode(page, currentCode(env, secret));
}

/** Follow an entry of the user-name menu. */
export async function openMenuEntry(page: Page, label: string): Promise<void> {
  await page.locator('details.user-menu > summary').click();
  await clickAndLoad(page, page.locator('details.user-menu').getByRole('link', { name: label, exact: true }));
}

/** The labels of the user-name menu. */
export async function menuEntries(page: Page): Promise<string[]> {
  await page.locator('details.user-menu > summary').click();
  const entries = await page.locator('details.user-menu li').allInnerTexts();
  await page.keyboard.press('Escape');
  return entries.map((entry) => entry.trim());
}

/** What the user record's Actions menu offers. */
export async function recordActions(page: Page): Promise<string[]> {
  const menu = page.locator('details.actions-menu');
  if ((await menu.count()) === 0) return [];
  await menu.locator('summary').click();
  const entries = await menu.locator('li').allInnerTexts();
  await menu.locator('summary').click();
  return entries.map((entry) => entry.trim());
}

/** Choose an entry of the user record's Actions menu (a button that posts, or a link). */
export async function chooseAction(page: Page, label: string): Promise<void> {
  const menu = page.locator('details.actions-menu');
  if (!(await menu.evaluate((details: HTMLDetailsElement) => details.open)))
    await menu.locator('summary').click();
  const entry = menu
    .getByRole('button', { name: label, exact: true })
    .or(menu.getByRole('link', { name: label, exact: true }));
  await clickAndLoad(page, entry);
}

export const recordPath = (domainId: string | null, userId: string): string =>
  `/admin/accounts/${domainId}/users/${userId}`;

/** The text of the user list row of `username`. */
export async function userRow(page: Page, username: string): Promise<string> {
  return page
    .getByRole('row')
    .filter({ has: page.getByRole('link', { name: username, exact: true }) })
    .innerText();
}
