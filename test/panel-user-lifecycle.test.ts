import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { chooseAction, userRow } from './support/admin.js';
import {
  assertAccessible,
  bannerText,
  browserUnavailable,
  clickAndLoad,
  newPerson,
  type PanelEnv,
  signIn,
  submit,
  usePanelBrowser,
} from './support/browser.js';
import { createAccount, createUserVia } from './support/harness.js';

const skip = browserUnavailable();

/** Nothing on the page is wider than the window (a phone of 360 px scrolls only downwards). */
async function assertFitsWidth(page: Page, label: string): Promise<void> {
  const { scroll, client } = await page.evaluate(() => ({
    scroll: document.documentElement.scrollWidth,
    client: document.documentElement.clientWidth,
  }));
  assert.ok(scroll <= client, `${label} is ${scroll} px wide in a ${client} px window`);
}

async function apiLogin(env: PanelEnv, credentials: Record<string, unknown>): Promise<number> {
  const response = await env.request('POST', '/v2.0/tokens', { body: { auth: credentials } });
  return response.status;
}

describe('control panel: the user lifecycle', { skip }, () => {
  let env: PanelEnv;
  let browser: Browser;

  usePanelBrowser((started) => {
    ({ env, browser } = started);
  });

  test('an account owner creates a user with a generated password, edits it and deletes it, on a phone', async () => {
    const owner = await createAccount(env);
    const context = await newPerson(browser, env, 360);
    const page = await context.newPage();
    await signIn(page, owner.username, owner.password);
    await page.goto(`/admin/accounts/${owner.domainId}/users`);
    await clickAndLoad(page, page.getByRole('link', { name: 'Create User', exact: true }));
    assert.equal(await page.locator('h1').innerText(), 'Create User');
    assert.deepEqual(
      (await page.getByLabel('Role').locator('option').allInnerTexts()).map((text) => text.trim()),
      ['User', 'User manager'],
      'an owner gives the roles of its account, no more',
    );
    await assertAccessible(page, 'Create User');
    await assertFitsWidth(page, 'Create User');

    const username = `made-${Date.now().toString(36)}`;
    await page.getByLabel('Username').fill(username);
    await page.getByLabel('Email').fill(`${username}@example.com`);
    await page.getByLabel('Role').selectOption({ label: 'User manager' });
    await submit(page, 'Create User');
    assert.equal(await page.locator('h1').innerText(), 'User Created');
    const password = (await page.locator('#new-password').innerText()).trim();
    assert.equal(
      await apiLogin(env, { passwordCredentials: { username, password } }),
      200,
      'the password shown logs in',
    );
    await assertFitsWidth(page, 'User Created');

    await clickAndLoad(page, page.getByRole('link', { name: 'Go to the User' }));
    assert.equal(await page.locator('h1').innerText(), `User ${username}`);
    assert.match(await page.locator('#user').innerText(), /User manager/);
    await chooseAction(page, 'Edit User');
    assert.equal(await page.locator('h1').innerText(), `Edit User ${username}`);
    await assertAccessible(page, 'Edit User');
    await page.getByLabel('Email').fill(`renamed-${username}@example.com`);
    await page.getByLabel('Role').selectOption({ label: 'User' });
    await page.getByLabel('Enabled').uncheck();
    await submit(page, 'Save User');
    assert.match(await bannerText(page), new RegExp(`The user ${username} is saved`));
    const record = await page.locator('#user').innerText();
    assert.match(record, new RegExp(`renamed-${username}@example.com`));
    assert.match(record, /Disabled/);
    assert.doesNotMatch(record, /User manager/);
    assert.equal(await apiLogin(env, { passwordCredentials: { username, password } }), 403, 'disabled');

    await chooseAction(page, 'Delete User');
    assert.equal(await page.locator('h1').innerText(), `Delete ${username}?`);
    assert.match(await page.locator('main').innerText(), new RegExp(`The user ${username}`));
    await assertAccessible(page, 'Delete User');
    await submit(page, 'Delete User');
    assert.match(page.url(), new RegExp(`/admin/accounts/${owner.domainId}/users$`));
    assert.match(await bannerText(page), new RegExp(`The user ${username} was deleted`));
    assert.equal(await page.getByRole('link', { name: username, exact: true }).count(), 0);
    assert.ok((await userRow(page, owner.username)).length > 0, 'the owner is still listed');
    await context.close();
  });

  test('a user changes its password (logged out everywhere), then shows and resets its API key', async () => {
    const owner = await createAccount(env);
    const member = await createUserVia(env, owner, 'member');
    const context = await newPerson(browser, env);
    const page = await context.newPage();
    await signIn(page, member.username, member.password);
    await clickAndLoad(page, page.getByRole('link', { name: 'Change Password', exact: true }));
    assert.equal(await page.locator('h1').innerText(), 'Change Password');
    await assertAccessible(page, 'Change Password');
    const newPassword = 'Fresh-password-42';
    await page.getByLabel('Current password').fill(member.password);
    await page.getByLabel('New password', { exact: true }).fill(newPassword);
    await page.getByLabel('New password again').fill(newPassword);
    await submit(page, 'Change Password');
    assert.match(page.url(), /\/sign-in$/);
    assert.match(await bannerText(page), /Log in again with your new password/);
    const oldToken = await env.request('GET', `/v2.0/users/${member.id}`, { token: member.token });
    assert.equal(oldToken.status, 401, 'the tokens of before the change are revoked, as by the API');

    await signIn(page, member.username, newPassword);
    assert.match(page.url(), /\/profile$/);
    await clickAndLoad(page, page.getByRole('link', { name: 'Show API Key', exact: true }));
    await page.getByLabel('Password').fill(newPassword);
    await submit(page, 'Show API Key');
    assert.equal((await page.locator('#api-key').innerText()).trim(), member.apiKey);

    await clickAndLoad(page, page.getByRole('link', { name: 'Reset API Key', exact: true }));
    assert.equal(await page.locator('h1').innerText(), 'Reset API Key?');
    await assertAccessible(page, 'Reset API Key');
    await page.getByLabel('Password').fill(newPassword);
    await submit(page, 'Reset API Key');
    const newKey = (await page.locator('#api-key').innerText()).trim();
    assert.notEqual(newKey, member.apiKey);
    const apiKey = (key: string) => ({
      'RAX-KSKEY:apiKeyCredentials': { username: member.username, apiKey: key },
    });
    assert.equal(await apiLogin(env, apiKey(member.apiKey)), 401, 'the old key no longer logs in');
    assert.equal(await apiLogin(env, apiKey(newKey)), 200);
    await context.close();
  });
});
