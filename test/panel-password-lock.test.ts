import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import {
  accountWithUsers,
  chooseAction,
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
  logOut,
  newPerson,
  type PanelEnv,
  signIn,
  usePanelBrowser,
} from './support/browser.js';
import { passwordLogin } from './support/harness.js';

const skip = browserUnavailable();

/** The CSRF token the page's forms carry. */
async function csrfTokenOf(page: Page): Promise<string> {
  const token = await page.locator('input[name="_csrf"]').first().inputValue();
  assert.ok(token, 'the page has no CSRF token');
  return token;
}

describe('control panel: the password lock', { skip }, () => {
  let env: PanelEnv;
  let browser: Browser;

  usePanelBrowser((started) => {
    ({ env, browser } = started);
  });

  test('regression: an owner could not see a password lock: the overview, list and record show it, and Unlock User lifts it', async () => {
    const { owner, ownerSecret, users } = await accountWithUsers(env, 2);
    const [member, other] = users;
    assert.ok(member && other);
    const lockedAt = env.clock.now();
    for (let attempt = 1; attempt <= env.deps.config.passwordLockout.attempts; attempt++)
      await passwordLogin(env, member.username, 'Wrongpass1');
    const until = new Date(lockedAt + env.deps.config.passwordLockout.seconds * 1000)
      .toISOString()
      .slice(0, 16)
      .replace('T', ' ');

    // The member cannot sign in, and the page says no more than for a wrong password.
    const memberContext = await newPerson(browser, env);
    const memberPage = await memberContext.newPage();
    await signIn(memberPage, member.username, member.password);
    assert.match(memberPage.url(), /\/sign-in$/);

    const ownerContext = await newPerson(browser, env);
    const page = await ownerContext.newPage();
    await signInWithOtp(page, env, owner, ownerSecret);

    await page.goto(`/admin/accounts/${owner.domainId}`);
    const lockedCard = await page.locator('#locked').innerText();
    assert.match(lockedCard, new RegExp(member.username));
    assert.match(lockedCard, new RegExp(`Too many wrong passwords, until ${until} UTC`));
    assert.doesNotMatch(lockedCard, new RegExp(other.username));
    await assertAccessible(page, 'the overview with a password-locked user');

    await clickAndLoad(page, page.getByRole('link', { name: 'User List' }));
    const row = await userRow(page, member.username);
    assert.match(row, /Locked/);
    assert.match(row, new RegExp(`Too many wrong passwords, until ${until} UTC`));
    assert.doesNotMatch(await userRow(page, other.username), /Locked/);
    await assertAccessible(page, 'the user list with a password-locked user');

    await clickAndLoad(page, page.getByRole('link', { name: member.username, exact: true }));
    assert.match(
      await page.locator('#user').innerText(),
      new RegExp(`Password\\s+Locked Too many wrong passwords, until ${until} UTC`),
    );
    assert.deepEqual(
      (await recordActions(page)).filter((entry) => /Unlock/.test(entry)),
      ['Unlock User'],
    );
    await assertAccessible(page, 'the record of a password-locked user');

    await chooseAction(page, 'Unlock User');
    assert.match(await page.locator('.banner-success').innerText(), /successfully unlocked/);
    assert.match(await page.locator('#user').innerText(), /Password\s+Not locked/);
    assert.ok(!(await recordActions(page)).includes('Unlock User'));

    await signIn(memberPage, member.username, member.password);
    assert.match(memberPage.url(), /\/profile$/);

    // The account's events say which lock was set and which was lifted.
    await page.goto(`/admin/accounts/${owner.domainId}/events?user=${member.id}`);
    const events = await page.locator('.events-table').innerText();
    assert.match(events, /Locked: too many wrong passwords/);
    assert.match(events, /Unlocked[^\n]*Lifted the password lock/);
    await assertAccessible(page, 'the events of a lift');

    await page.goto(`/admin/accounts/${owner.domainId}`);
    assert.match(await page.locator('#locked').innerText(), /No user is locked/);
    await memberContext.close();
    await ownerContext.close();
  });

  test('a user whose passwords and passcodes both locked shows both locks, and one Unlock User lifts both', async () => {
    const { owner, ownerSecret, users } = await accountWithUsers(env, 1);
    const [member] = users;
    assert.ok(member);
    await env.deps.db
      .updateTable('users')
      .set({
        mfa_enabled: 1,
        factor_type: 'OTP',
        mfa_failed_count: env.deps.config.lockoutThreshold,
        mfa_last_failed_at: env.clock.now(),
      })
      .where('id', '=', member.id)
      .execute();
    for (let attempt = 1; attempt <= env.deps.config.passwordLockout.attempts; attempt++)
      await passwordLogin(env, member.username, 'Wrongpass1');

    const ownerContext = await newPerson(browser, env);
    const page = await ownerContext.newPage();
    await signInWithOtp(page, env, owner, ownerSecret);
    await page.goto(recordPath(owner.domainId, member.id));
    assert.match(await page.locator('#user').innerText(), /Too many wrong passwords/);
    assert.match(
      await page.locator('#multi-factor').innerText(),
      /LOCKED[\s\S]*Too many wrong passcodes, until unlocked/,
    );
    await chooseAction(page, 'Unlock User');
    assert.match(await page.locator('#user').innerText(), /Password\s+Not locked/);
    assert.doesNotMatch(await page.locator('#multi-factor').innerText(), /LOCKED/);
    await ownerContext.close();
  });
});

describe('control panel: the CSRF secret follows the session', { skip }, () => {
  let env: PanelEnv;
  let browser: Browser;

  usePanelBrowser((started) => {
    ({ env, browser } = started);
  });

  test('regression: a CSRF token obtained before sign-in still worked after it', async () => {
    const { users } = await accountWithUsers(env, 1);
    const [member] = users;
    assert.ok(member);
    const context = await newPerson(browser, env);
    const page = await context.newPage();
    await page.goto('/sign-in');
    const before = await csrfTokenOf(page);
    await signIn(page, member.username, member.password);
    assert.match(page.url(), /\/profile$/);

    // Someone who planted or read the pre-sign-in secret posts with its token: refused.
    const forged = await page.request.post('/sign-out', { form: { _csrf: before }, maxRedirects: 0 });
    assert.equal(forged.status(), 403);
    await page.goto('/profile');
    assert.match(page.url(), /\/profile$/, 'the session is still there');

    // The panel's own forms work with the new secret.
    await logOut(page);
    assert.match(await bannerText(page), /You have logged out/);
    await context.close();
  });

  test('a CSRF token of a signed-in page no longer works after log-out', async () => {
    const { users } = await accountWithUsers(env, 1);
    const [member] = users;
    assert.ok(member);
    const context = await newPerson(browser, env);
    const page = await context.newPage();
    await signIn(page, member.username, member.password);
    assert.match(page.url(), /\/profile$/);
    const signedIn = await csrfTokenOf(page);
    await logOut(page);

    const forged = await page.request.post('/sign-in', {
      form: { _csrf: signedIn, username: member.username, password: member.password },
      maxRedirects: 0,
    });
    assert.equal(forged.status(), 403);

    // The sign-in page's own form still signs in.
    await signIn(page, member.username, member.password);
    assert.match(page.url(), /\/profile$/);
    await context.close();
  });
});
