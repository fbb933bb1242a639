import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { Browser } from 'playwright-core';
import {
  assertAccessible,
  bannerText,
  browserUnavailable,
  enterPasscode,
  newPerson,
  type PanelEnv,
  signIn,
  submit,
  usePanelBrowser,
} from './support/browser.js';
import { createAccount, type TestEnv } from './support/harness.js';
import { enableSms, lastSmsPasscode } from './support/mfa.js';

const skip = browserUnavailable();

function lastPin(env: TestEnv, number: string): string {
  const pin = /(\d{4})\D*$/.exec(env.sms.last(number)?.body ?? '')?.[1];
  assert.ok(pin, `no PIN sent to ${number}`);
  return pin;
}

describe('control panel: SMS', { skip }, () => {
  let env: PanelEnv;
  let browser: Browser;

  usePanelBrowser((started) => {
    ({ env, browser } = started);
  });

  test('a phone is registered with the PIN from the text message, then signs its user in by SMS', async () => {
    const user = await createAccount(env);
    const context = await newPerson(browser, env, 360);
    const page = await context.newPage();
    await signIn(page, user.username, user.password);
    await page.goto('/profile/sms/new');
    await assertAccessible(page, 'the SMS device page at 360 px');

    // Seed 000 "Invalid phone number".
    await page.getByLabel('Country code').selectOption('US');
    await page.getByLabel('Phone number').fill('555 01');
    await submit(page, 'Add SMS Device');
    assert.match(
      await page.locator('.field-error').innerText(),
      /right country code and entered a valid phone number/,
    );

    await page.getByLabel('Phone number').fill('(201) 555-0123');
    await submit(page, 'Add SMS Device');
    assert.match(await bannerText(page), /4-digit PIN was sent to \+1 201 555 0123/);
    await assertAccessible(page, 'the SMS verification page');

    // Seed 000 "Invalid PIN when verifying device".
    const pin = lastPin(env, '+12015550123');
    await page.getByLabel('PIN').fill(pin === '0000' ? '1111' : '0000');
    await submit(page, 'Verify SMS Device');
    assert.match(await page.locator('.field-error').innerText(), /4-digit PIN from the text message/);

    await submit(page, 'Resend PIN');
    assert.match(await bannerText(page), /new PIN was sent/);
    const newPin = lastPin(env, '+12015550123');
    assert.equal(env.sms.sent.length, 2);
    await page.getByLabel('PIN').fill(newPin);
    await submit(page, 'Verify SMS Device');
    assert.match(page.url(), /\/sign-in$/);
    assert.match(await bannerText(page), /text message \(SMS\) is now your default/);

    await signIn(page, user.username, user.password);
    assert.match(await page.locator('main').innerText(), /7-digit passcode to \+1\*{6}0123/);
    await enterPasscode(page, lastSmsPasscode(env));
    assert.match(page.url(), /\/profile$/);
    assert.match(await page.locator('#devices').innerText(), /\+1 201 555 0123[\s\S]*Verified/);
    await context.close();
  });

  test('"Resend Code" sends a new passcode for the same sign-in; the old one stops working', async () => {
    const user = await createAccount(env);
    await enableSms(env, user, '+12015550177');
    const context = await newPerson(browser, env);
    const page = await context.newPage();
    await signIn(page, user.username, user.password);
    await assertAccessible(page, 'the SMS passcode page');
    const first = lastSmsPasscode(env, '+12015550177');
    const sentBefore = env.sms.sent.length;

    await submit(page, 'Resend Code');
    assert.match(await bannerText(page), /new passcode was sent to \+1\*{6}0177/);
    assert.equal(env.sms.sent.length, sentBefore + 1);
    const second = lastSmsPasscode(env, '+12015550177');
    assert.notEqual(second, first);

    await enterPasscode(page, first);
    assert.match(await page.locator('.field-error').innerText(), /Resend Code/);
    await enterPasscode(page, second);
    assert.match(page.url(), /\/profile$/);
    await context.close();
  });

  test('"Resend Code" stays within the SMS limits', async () => {
    const user = await createAccount(env);
    await enableSms(env, user, '+12015550166');
    const context = await newPerson(browser, env);
    const page = await context.newPage();
    await signIn(page, user.username, user.password);
    // The setup sent a PIN and the sign-in a passcode; five per number per ten minutes.
    for (let sent = 2; sent < env.deps.config.sms.maxPerNumber10Min; sent++)
      await submit(page, 'Resend Code');
    const before = env.sms.sent.length;
    await submit(page, 'Resend Code');
    assert.equal(env.sms.sent.length, before);
    assert.match(await page.locator('.field-error').innerText(), /Too many text messages/);
    // The passcode already sent still works.
    await enterPasscode(page, lastSmsPasscode(env, '+12015550166'));
    assert.match(page.url(), /\/profile$/);
    await context.close();
  });
});
