import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { Browser } from 'playwright-core';
import {
  accountWithUsers,
  chooseAction,
  menuEntries,
  openMenuEntry,
  recordActions,
  recordPath,
  signInWithOtp,
  userRow,
} from './support/admin.js';
import {
  assertAccessible,
  bannerText,
  browserUnavailable,
  clickAndLoad,
  enterPasscode,
  newPerson,
  type PanelEnv,
  signIn,
  submit,
  usePanelBrowser,
} from './support/browser.js';
import { createAccount, createAdmin, createUserVia, setRole } from './support/harness.js';
import { enableOtp, enableSms } from './support/mfa.js';

const skip = browserUnavailable();

describe('control panel: administration', { skip }, () => {
  let env: PanelEnv;
  let browser: Browser;

  usePanelBrowser((started) => {
    ({ env, browser } = started);
  });

  test('a user locked by wrong passcodes is unlocked with "Unlock User", and signs in again', async () => {
    const { owner, ownerSecret, users } = await accountWithUsers(env, 1);
    const [member] = users;
    assert.ok(member);
    const memberSecret = await enableOtp(env, member);

    const memberContext = await newPerson(browser, env);
    const memberPage = await memberContext.newPage();
    await signIn(memberPage, member.username, member.password);
    let wrong = 0;
    while (!memberPage.url().endsWith('/sign-in')) {
      await enterPasscode(memberPage, '000000');
      wrong += 1;
      assert.ok(wrong <= env.deps.config.lockoutThreshold, 'the lock never came');
    }
    assert.equal(wrong, env.deps.config.lockoutThreshold);
    assert.match(await bannerText(memberPage), /locked/);

    const ownerContext = await newPerson(browser, env);
    const page = await ownerContext.newPage();
    await signInWithOtp(page, env, owner, ownerSecret);
    await openMenuEntry(page, 'User Management');
    assert.match(page.url(), new RegExp(`/admin/accounts/${owner.domainId}$`));
    assert.match(await page.locator('#locked').innerText(), new RegExp(member.username));
    await clickAndLoad(page, page.getByRole('link', { name: 'User List' }));
    assert.match(await userRow(page, member.username), /LOCKED/);
    await clickAndLoad(page, page.getByRole('link', { name: member.username, exact: true }));
    assert.equal(await page.locator('h1').innerText(), `User ${member.username}`);
    assert.deepEqual(
      (await recordActions(page)).filter((entry) => /Unlock|Temporary/.test(entry)),
      ['Unlock User'],
    );
    await chooseAction(page, 'Unlock User');
    assert.match(await page.locator('.banner-success').innerText(), /successfully unlocked/);
    assert.match(await page.locator('#multi-factor').innerText(), /\bOn\b/);
    assert.ok(!(await recordActions(page)).includes('Unlock User'));

    await signInWithOtp(memberPage, env, member, memberSecret);
    assert.match(memberPage.url(), /\/profile$/);
    await memberContext.close();
    await ownerContext.close();
  });

  test('"Send Temporary Code" shows the masked number, and the code signs the user in', async () => {
    const { owner, ownerSecret, users } = await accountWithUsers(env, 1);
    const [member] = users;
    assert.ok(member);
    await enableSms(env, member, '+12015550123');

    const ownerContext = await newPerson(browser, env);
    const page = await ownerContext.newPage();
    await signInWithOtp(page, env, owner, ownerSecret);
    await page.goto(recordPath(owner.domainId, member.id));
    const actions = await recordActions(page);
    assert.ok(actions.includes('Send Temporary Code'));
    assert.ok(!actions.includes('Unlock User'));
    await chooseAction(page, 'Send Temporary Code');
    const banner = await page.locator('.banner-success').innerText();
    assert.match(banner, /\+1\*{6}0123/);
    assert.match(banner, /five minutes/);
    assert.doesNotMatch(banner, /2015550123/);
    const code = /\b(\d{8})\b/.exec(env.sms.last('+12015550123')?.body ?? '')?.[1];
    assert.ok(code, 'no temporary code was sent');

    const memberContext = await newPerson(browser, env);
    const memberPage = await memberContext.newPage();
    await signIn(memberPage, member.username, member.password);
    assert.match(memberPage.url(), /\/sign-in\/passcode$/);
    await enterPasscode(memberPage, code);
    assert.match(memberPage.url(), /\/profile$/);
    await memberContext.close();
    await ownerContext.close();
  });

  test('the owner requires MFA: a confirmation names who is logged out, that user is logged out at the next click and guided through setup', async () => {
    const { owner, ownerSecret, users } = await accountWithUsers(env, 1);
    const [member] = users;
    assert.ok(member);

    const memberContext = await newPerson(browser, env);
    const memberPage = await memberContext.newPage();
    await signIn(memberPage, member.username, member.password);
    assert.match(memberPage.url(), /\/profile$/);

    const ownerContext = await newPerson(browser, env);
    const page = await ownerContext.newPage();
    await signInWithOtp(page, env, owner, ownerSecret);
    await openMenuEntry(page, 'User Management');
    await clickAndLoad(page, page.getByRole('link', { name: 'Require Multi-Factor' }).first());
    await page.getByLabel('Required for all users on this account').check();
    await submit(page, 'Save Setting');
    assert.equal(await page.locator('h1').innerText(), 'Require multi-factor authentication?');
    assert.match(await page.locator('#logged-out').innerText(), new RegExp(member.username));
    await assertAccessible(page, 'the confirmation of Required');
    // Nothing is saved before the confirmation.
    const before = await env.deps.db
      .selectFrom('domains')
      .select('mfa_enforcement')
      .where('id', '=', owner.domainId ?? '')
      .executeTakeFirstOrThrow();
    assert.equal(before.mfa_enforcement, 'OPTIONAL');
    await submit(page, 'Require Multi-Factor');
    const saved = await page.locator('.banner-success').innerText();
    assert.match(saved, /now required for all users/);
    assert.match(saved, new RegExp(member.username));
    assert.ok(await page.getByLabel('Required for all users on this account').isChecked());

    // The member's next click: seed 000's force-logout message, then the guided setup.
    await clickAndLoad(memberPage, memberPage.getByRole('link', { name: 'Add authenticator app' }));
    assert.match(memberPage.url(), /\/sign-in$/);
    assert.match(await bannerText(memberPage), /account now requires multi-factor authentication/);
    await signIn(memberPage, member.username, member.password);
    assert.match(memberPage.url(), /\/setup$/);
    assert.ok(await memberPage.getByRole('link', { name: 'Set Up Multi-Factor Authentication' }).isVisible());

    // And back to optional, without a confirmation.
    await page.getByLabel('Optional per user').check();
    await submit(page, 'Save Setting');
    assert.match(await page.locator('.banner-success').innerText(), /now optional per user/);
    await memberContext.close();
    await ownerContext.close();
  });

  test('disable and enable a user, and reset its MFA, from the Actions menu', async () => {
    const { owner, ownerSecret, users } = await accountWithUsers(env, 1);
    const [member] = users;
    assert.ok(member);
    const memberSecret = await enableOtp(env, member);
    const memberContext = await newPerson(browser, env);
    const memberPage = await memberContext.newPage();
    await signInWithOtp(memberPage, env, member, memberSecret);
    assert.match(memberPage.url(), /\/profile$/);

    const ownerContext = await newPerson(browser, env);
    const page = await ownerContext.newPage();
    await signInWithOtp(page, env, owner, ownerSecret);
    await page.goto(recordPath(owner.domainId, member.id));
    await chooseAction(page, 'Disable User');
    await assertAccessible(page, 'the confirmation of Disable User');
    await submit(page, 'Disable User');
    assert.match(await page.locator('.banner-success').innerText(), /disabled/);
    assert.match(await page.locator('#user').innerText(), /Disabled/);
    await memberPage.reload();
    assert.match(memberPage.url(), /\/sign-in$/);

    await chooseAction(page, 'Enable User');
    assert.match(await page.locator('.banner-success').innerText(), /enabled/);

    await chooseAction(page, 'Reset Multi-Factor');
    await assertAccessible(page, 'the confirmation of Reset Multi-Factor');
    await submit(page, 'Reset Multi-Factor');
    assert.match(await page.locator('.banner-success').innerText(), /was reset/);
    assert.match(await page.locator('#multi-factor').innerText(), /No devices/);
    // Password alone now.
    await signIn(memberPage, member.username, member.password);
    assert.match(memberPage.url(), /\/profile$/);
    await memberContext.close();
    await ownerContext.close();
  });

  test('the Actions menu works with the keyboard alone', async () => {
    const { owner, ownerSecret, users } = await accountWithUsers(env, 1);
    const [member] = users;
    assert.ok(member);
    await enableSms(env, member, '+12015550155');
    const context = await newPerson(browser, env);
    const page = await context.newPage();
    await signInWithOtp(page, env, owner, ownerSecret);
    await page.goto(recordPath(owner.domainId, member.id));
    const menu = page.locator('details.actions-menu');
    await menu.locator('summary').focus();
    await page.keyboard.press('Enter');
    assert.equal(await menu.evaluate((details: HTMLDetailsElement) => details.open), true);
    await page.keyboard.press('Escape');
    assert.equal(await menu.evaluate((details: HTMLDetailsElement) => details.open), false);
    await page.keyboard.press('Enter');
    await page.keyboard.press('Tab');
    assert.equal(
      await page.evaluate(() => document.activeElement?.textContent?.trim()),
      'Send Temporary Code',
    );
    await Promise.all([page.waitForEvent('framenavigated'), page.keyboard.press('Enter')]);
    await page.waitForLoadState('load');
    assert.match(await page.locator('.banner-success').innerText(), /\+1\*{6}0155/);
    await context.close();
  });

  test('an identity administrator chooses the account first', async () => {
    const admin = await createAdmin(env);
    const { owner, users } = await accountWithUsers(env, 2);
    const context = await newPerson(browser, env);
    const page = await context.newPage();
    await signIn(page, admin.username, admin.password);
    await openMenuEntry(page, 'User List');
    assert.equal(await page.locator('h1').innerText(), 'Choose an account');
    await page.getByLabel('Account number or name').fill(owner.domainId ?? '');
    await submit(page, 'Find Account');
    assert.equal(await page.locator('tbody tr').count(), 1);
    await clickAndLoad(page, page.getByRole('link', { name: owner.domainId ?? '', exact: true }));
    assert.match(page.url(), new RegExp(`/admin/accounts/${owner.domainId}/users$`));
    for (const user of [owner, ...users]) assert.match(await userRow(page, user.username), /On|Off/);
    await page.getByLabel('Search users').fill(users[1]?.username ?? '');
    await submit(page, 'Search');
    assert.equal(await page.locator('tbody tr').count(), 1);
    await context.close();
  });

  test('the menu shows the administration only to those who may use it', async () => {
    const owner = await createAccount(env);
    const member = await createUserVia(env, owner, 'plain');
    const manager = await createUserVia(env, owner, 'manager');
    await setRole(env, manager, 'identity:user-manage');

    const context = await newPerson(browser, env);
    const page = await context.newPage();
    await signIn(page, member.username, member.password);
    assert.deepEqual(await menuEntries(page), ['My Profile & Settings', 'Log Out']);
    const refused = await page.goto(`/admin/accounts/${owner.domainId}/users`);
    assert.equal(refused?.status(), 403);
    await context.close();

    const managerContext = await newPerson(browser, env);
    const managerPage = await managerContext.newPage();
    await signIn(managerPage, manager.username, manager.password);
    assert.deepEqual(await menuEntries(managerPage), [
      'My Profile & Settings',
      'User Management',
      'User List',
      'Log Out',
    ]);
    // A user manager lists the account's users but not its owner, and may not read the event log.
    await openMenuEntry(managerPage, 'User List');
    assert.equal(await managerPage.getByRole('link', { name: owner.username, exact: true }).count(), 0);
    assert.equal(await managerPage.getByRole('link', { name: member.username, exact: true }).count(), 1);
    assert.equal(await managerPage.getByRole('link', { name: 'Security Events' }).count(), 0);
    const events = await managerPage.goto(`/admin/accounts/${owner.domainId}/events`);
    assert.equal(events?.status(), 403);
    // Nor another account.
    const other = await createAccount(env);
    const elsewhere = await managerPage.goto(`/admin/accounts/${other.domainId}`);
    assert.equal(elsewhere?.status(), 403);
    await managerContext.close();

    const ownerContext = await newPerson(browser, env);
    const ownerPage = await ownerContext.newPage();
    await signIn(ownerPage, owner.username, owner.password);
    assert.deepEqual(await menuEntries(ownerPage), [
      'My Profile & Settings',
      'User Management',
      'User List',
      'Security Events',
      'Log Out',
    ]);
    await ownerContext.close();
  });

  test('the overview counts MFA adoption and failed sign-ins; the events are newest first and filter by user, type and time', async () => {
    const { owner, ownerSecret, users } = await accountWithUsers(env, 3);
    const [otp, sms, none] = users;
    assert.ok(otp && sms && none);
    await enableOtp(env, otp);
    await enableSms(env, sms, '+12015550177');
    const context = await newPerson(browser, env);
    const page = await context.newPage();
    // Five minutes into the next clock hour: the three failures fall in one hour of the chart.
    const hour = 60 * 60_000;
    env.clock.set((Math.floor(env.clock.now() / hour) + 1) * hour + 5 * 60_000);
    for (let i = 0; i < 3; i++) {
      env.clock.advance(60_000);
      await signIn(page, none.username, 'Wrongpass1');
    }
    await signInWithOtp(page, env, owner, ownerSecret);
    await page.goto(`/admin/accounts/${owner.domainId}`);
    assert.match(
      await page.locator('#adoption').innerText(),
      /3 of 4 users have multi-factor authentication on \(75%\)/,
    );
    assert.match(await page.locator('#adoption').innerText(), /Authenticator app\s+2 users\s+SMS\s+1 user/);
    const chart = page.locator('#failed-sign-ins');
    assert.match(await chart.locator('figcaption').innerText(), /^3 failed logins in the last 24 hours/);
    assert.equal(await chart.locator('svg rect.chart-bar').count(), 1);
    assert.ok(await chart.getByRole('img', { name: 'Failed logins per hour, last 24 hours' }).isVisible());

    await clickAndLoad(page, page.getByRole('link', { name: 'Security Events' }));
    const times = await page
      .locator('tbody time')
      .evaluateAll((nodes) => nodes.map((node) => node.getAttribute('datetime') ?? ''));
    assert.ok(times.length > 5);
    assert.deepEqual(times, [...times].sort().reverse(), 'newest first');
    await page.getByLabel('User').selectOption({ label: none.username });
    await page.getByLabel('Type').selectOption({ label: 'Login failed' });
    await page.getByLabel('Time').selectOption({ label: 'Last hour' });
    await submit(page, 'Filter');
    const rows = await page.locator('tbody tr').allInnerTexts();
    assert.equal(rows.length, 3);
    for (const row of rows) {
      assert.match(row, new RegExp(`Login failed\\s+${none.username}\\s+Same user`));
      assert.match(row, /With password\./, 'the detail reads as a sentence');
      assert.doesNotMatch(row, /[0-9a-f]{8}-|[0-9a-f]{32}|method:/, 'no id and no field name in sight');
    }
    // An hour later, the hour's filter finds nothing; "All kept events" finds them still.
    env.clock.advance(2 * hour);
    await page.reload();
    assert.equal(await page.locator('tbody tr').count(), 0);
    await page.getByLabel('Time').selectOption({ label: 'All kept events' });
    await submit(page, 'Filter');
    assert.equal(await page.locator('tbody tr').count(), 3);
    await context.close();
  });
});
