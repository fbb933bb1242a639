import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { accountWithUsers, chooseAction, recordPath, signInWithOtp } from './support/admin.js';
import {
  assertAccessible,
  browserUnavailable,
  newPerson,
  type PanelEnv,
  serveOtherOrigin,
  signIn,
  submit,
  usePanelBrowser,
} from './support/browser.js';
import { createAccount, createAdmin } from './support/harness.js';
import { enableSms } from './support/mfa.js';

const skip = browserUnavailable();

const HOSTILE = '<img src=x onerror=alert(1)>';

/** Readable at phone width: nothing wider than the screen but what scrolls inside a table. */
async function assertFitsPhone(page: Page, label: string): Promise<void> {
  await page.setViewportSize({ width: 360, height: 740 });
  const width = await page.evaluate(() => document.documentElement.scrollWidth);
  assert.ok(width <= 360, `${label} is ${width} px wide at 360 px`);
  await page.setViewportSize({ width: 1280, height: 900 });
}

/** An attacker's page on another origin of the same host, with forms aimed at the panel. */
function attackerSite(forms: string): Promise<{ url: string; close(): Promise<void> }> {
  const page = `<!doctype html><html lang="en"><head><title>Quarterly report</title></head><body>${forms}</body></html>`;
  return serveOtherOrigin(page);
}

describe('control panel: administration, accessible and safe', { skip }, () => {
  let env: PanelEnv;
  let browser: Browser;

  usePanelBrowser((started) => {
    ({ env, browser } = started);
  });

  test('every administration page is accessible (axe: no serious or critical violation) and fits 360 px', async () => {
    const admin = await createAdmin(env);
    const { owner, ownerSecret, users } = await accountWithUsers(env, 2);
    const [member, smsUser] = users;
    assert.ok(member && smsUser);
    await enableSms(env, smsUser, '+12015550123');

    const adminContext = await newPerson(browser, env);
    const adminPage = await adminContext.newPage();
    await signIn(adminPage, admin.username, admin.password);
    await adminPage.goto('/admin');
    assert.equal(await adminPage.locator('h1').innerText(), 'Choose an account');
    await assertAccessible(adminPage, 'the account chooser');
    await assertFitsPhone(adminPage, 'the account chooser');
    await adminContext.close();

    const context = await newPerson(browser, env);
    const page = await context.newPage();
    await signInWithOtp(page, env, owner, ownerSecret);
    const base = `/admin/accounts/${owner.domainId}`;
    const pages: [string, string][] = [
      ['the security overview', base],
      ['the user list', `${base}/users`],
      ['a user record', recordPath(owner.domainId, smsUser.id)],
      ['the Disable User confirmation', `${recordPath(owner.domainId, member.id)}/disable`],
      ['the Reset Multi-Factor confirmation', `${recordPath(owner.domainId, member.id)}/reset-multi-factor`],
      ['Require Multi-Factor', `${base}/multi-factor`],
      ['the security events', `${base}/events`],
    ];
    for (const [label, path] of pages) {
      const response = await page.goto(path);
      assert.equal(response?.status(), 200, label);
      await assertAccessible(page, label);
      await assertFitsPhone(page, label);
    }
    // With the Actions menu open, the chart's table open, a banner, and the Required confirmation.
    await page.goto(recordPath(owner.domainId, smsUser.id));
    await page.locator('details.actions-menu > summary').click();
    await assertAccessible(page, 'a user record with its Actions menu open');
    await chooseAction(page, 'Send Temporary Code');
    await assertAccessible(page, 'a user record with a banner');
    await page.goto(base);
    await page.getByText('Show the figures as a table').click();
    await assertAccessible(page, 'the overview with the chart as a table');
    await page.goto(`${base}/multi-factor`);
    await page.getByLabel('Required for all users on this account').check();
    await submit(page, 'Save Setting');
    await assertAccessible(page, 'the confirmation of Required');
    await assertFitsPhone(page, 'the confirmation of Required');
    await context.close();
  });

  test('a hostile username, email and device name render as text on the administration pages', async () => {
    const { owner, ownerSecret, users } = await accountWithUsers(env, 1);
    const [member] = users;
    assert.ok(member);
    // The API refuses such a username; the pages must still be safe if one is ever stored.
    const username = `x${HOSTILE}`;
    await env.deps.db
      .updateTable('users')
      .set({
        username,
        username_key: username.toLowerCase(),
        email: `"${HOSTILE.replaceAll(' ', '/')}"@example.com`,
      })
      .where('id', '=', member.id)
      .execute();
    const device = await env.request('POST', `/v2.0/users/${member.id}/RAX-AUTH/multi-factor/otp-devices`, {
      token: member.token,
      body: { 'RAX-AUTH:otpDevice': { name: HOSTILE } },
    });
    assert.equal(device.status, 201, device.text);

    const context = await newPerson(browser, env);
    const page = await context.newPage();
    const dialogs: string[] = [];
    page.on('dialog', async (dialog) => {
      dialogs.push(dialog.message());
      await dialog.dismiss();
    });
    await signInWithOtp(page, env, owner, ownerSecret);
    const base = `/admin/accounts/${owner.domainId}`;
    for (const path of [`${base}/users`, recordPath(owner.domainId, member.id), `${base}/events`]) {
      await page.goto(path);
      const text = await page.locator('main').innerText();
      assert.ok(text.includes(username), `${path} shows the username as text`);
      assert.equal(await page.locator('main img').count(), 0, `${path} made an image of it`);
    }
    await page.goto(recordPath(owner.domainId, member.id));
    assert.ok((await page.locator('#multi-factor').innerText()).includes(HOSTILE), 'the device name');
    // The confirmation of Required names the users it logs out.
    await page.goto(`${base}/multi-factor`);
    await page.getByLabel('Required for all users on this account').check();
    await submit(page, 'Save Setting');
    assert.ok((await page.locator('#logged-out').innerText()).includes(username));
    assert.equal(await page.locator('main img').count(), 0);
    assert.deepEqual(dialogs, []);
    await context.close();
  });

  test('a cross-site post to an administration action changes nothing', async () => {
    const { owner, ownerSecret, users } = await accountWithUsers(env, 1);
    const [member] = users;
    assert.ok(member);
    await enableSms(env, member, '+12015550166');
    const context = await newPerson(browser, env);
    const page = await context.newPage();
    await signInWithOtp(page, env, owner, ownerSecret);
    const record = `${env.baseUrl}${recordPath(owner.domainId, member.id)}`;
    const policy = `${env.baseUrl}/admin/accounts/${owner.domainId}/multi-factor`;
    // A real form of the panel gives the attacker a real-looking token (of its own session).
    const stolenLooking = 'a'.repeat(52);
    const attacker = await attackerSite(`
<form method="post" action="${record}/disable"><button>Open the report</button></form>
<form method="post" action="${policy}">
<input type="hidden" name="level" value="REQUIRED"><input type="hidden" name="confirmed" value="yes">
<input type="hidden" name="_csrf" value="${stolenLooking}"><button>Open the appendix</button></form>
<form method="post" action="${record}/temporary-code"><button>Open the summary</button></form>
<form method="post" action="${record}/reset-multi-factor"><button>Open the charts</button></form>`);
    const textsBefore = env.sms.sent.length;
    try {
      for (const button of ['Open the report', 'Open the appendix', 'Open the summary', 'Open the charts']) {
        await page.goto(attacker.url);
        const [response] = await Promise.all([
          page.waitForResponse((candidate) => candidate.request().method() === 'POST'),
          page.getByRole('button', { name: button }).click(),
        ]);
        assert.equal(response.status(), 403, button);
      }
    } finally {
      await attacker.close();
    }
    const user = await env.deps.db
      .selectFrom('users')
      .select(['enabled', 'mfa_enabled'])
      .where('id', '=', member.id)
      .executeTakeFirstOrThrow();
    assert.equal(user.enabled, 1);
    assert.equal(user.mfa_enabled, 1);
    const domain = await env.deps.db
      .selectFrom('domains')
      .select('mfa_enforcement')
      .where('id', '=', owner.domainId ?? '')
      .executeTakeFirstOrThrow();
    assert.equal(domain.mfa_enforcement, 'OPTIONAL');
    assert.equal(env.sms.sent.length, textsBefore, 'no temporary code was sent');
    // The same actions from the panel's own pages do work.
    await page.goto(recordPath(owner.domainId, member.id));
    await chooseAction(page, 'Send Temporary Code');
    assert.equal(env.sms.sent.length, textsBefore + 1);
    await context.close();
  });

  test('an owner without MFA of its own is told it cannot require MFA of the account', async () => {
    const owner = await createAccount(env);
    const context = await newPerson(browser, env);
    const page = await context.newPage();
    await signIn(page, owner.username, owner.password);
    await page.goto(`/admin/accounts/${owner.domainId}/multi-factor`);
    assert.match(await page.locator('main').innerText(), /must have Multi-Factor Authentication/);
    assert.equal(await page.getByRole('button', { name: 'Save Setting' }).count(), 0);
    await assertAccessible(page, 'Require Multi-Factor refused');
    await context.close();
  });
});
