/**
 * The administration pages for `npm run screenshots`: an account with users in each MFA state
 * (on, off, LOCKED), failed sign-ins spread over the day, and an identity administrator.
 */
import type { Browser, Page } from 'playwright-core';
import { accountWithUsers, signInWithOtp } from '../test/support/admin.js';
import { newPerson, type PanelEnv, signIn, submit } from '../test/support/browser.js';
import { createAdmin, passwordLogin, type TestUser } from '../test/support/harness.js';
import { enableOtp, enableSms, sendPasscode, startMfaLogin } from '../test/support/mfa.js';

type Rename = (env: PanelEnv, user: TestUser, username: string) => Promise<TestUser>;
type Shoot = (page: Page, name: string) => Promise<void>;

const HOUR = 60 * 60_000;

export async function shootAdministration(
  env: PanelEnv,
  browser: Browser,
  shoot: Shoot,
  rename: Rename,
): Promise<void> {
  const account = await accountWithUsers(env, 4);
  const grace = await rename(env, account.owner, 'grace');
  const [henry, ivy, jack, kate] = await Promise.all(
    ['henry', 'ivy', 'jack', 'kate'].map((name, index) => {
      const user = account.users[index];
      if (!user) throw new Error('missing user');
      return rename(env, user, name);
    }),
  );
  if (!henry || !ivy || !jack || !kate) throw new Error('missing user');
  await enableOtp(env, henry);
  await enableSms(env, ivy, '+12015550142');
  await enableOtp(env, kate);
  // Failed sign-ins through the day, then kate locked by wrong passcodes.
  const start = env.clock.now();
  for (const [hoursLater, failures] of [
    [2, 1],
    [5, 3],
    [6, 1],
    [11, 2],
    [15, 4],
    [19, 1],
  ] as const) {
    env.clock.set(start + hoursLater * HOUR);
    for (let i = 0; i < failures; i++) await passwordLogin(env, jack.username, 'Wrongpass1');
  }
  const { sessionId } = await startMfaLogin(env, kate);
  for (let i = 0; i < env.deps.config.lockoutThreshold; i++) await sendPasscode(env, sessionId, '000000');

  const context = await newPerson(browser, env);
  const page = await context.newPage();
  await signInWithOtp(page, env, grace, account.ownerSecret);
  const base = `/admin/accounts/${grace.domainId}`;
  await page.goto(base);
  await shoot(page, 'admin-overview');
  await page.goto(`${base}/users`);
  await shoot(page, 'admin-user-list');
  await page.goto(`${base}/users/${kate.id}`);
  await page.locator('details.actions-menu > summary').click();
  await shoot(page, 'admin-user-record');
  await page.goto(`${base}/multi-factor`);
  await page.getByLabel('Required for all users on this account').check();
  await submit(page, 'Save Setting');
  await shoot(page, 'admin-require-confirm');
  await page.goto(`${base}/events`);
  await shoot(page, 'admin-events');
  await context.close();

  const root = await rename(env, await createAdmin(env), 'root');
  const adminContext = await newPerson(browser, env);
  const adminPage = await adminContext.newPage();
  await signIn(adminPage, root.username, root.password);
  await adminPage.goto('/admin/accounts');
  await shoot(adminPage, 'admin-choose-account');
  await adminContext.close();
}
