import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { Browser } from 'playwright-core';
import {
  browserUnavailable,
  currentCode,
  enterPasscode,
  newPerson,
  type PanelEnv,
  serveOtherOrigin,
  signIn,
  usePanelBrowser,
} from './support/browser.js';
import { createAccount } from './support/harness.js';
import { enableOtp } from './support/mfa.js';

const skip = browserUnavailable();

/**
 * Another origin on the same host (another port): same site, so the browser does send the
 * SameSite=Lax session cookie with its form posts. Only the CSRF token and the Origin check stand.
 */
function attackerSite(target: string): Promise<{ url: string; close(): Promise<void> }> {
  const page = `<!doctype html><html lang="en"><head><title>Win a prize</title></head><body>
<form method="post" action="${target}/profile/mfa/disable"><button>Claim your prize</button></form>
<form method="post" action="${target}/profile/devices/remove-all">
<input type="hidden" name="_csrf" value="guessed-token"><button>Claim another prize</button></form>
</body></html>`;
  return serveOtherOrigin(page);
}

describe('control panel: attacks', { skip }, () => {
  let env: PanelEnv;
  let browser: Browser;

  usePanelBrowser((started) => {
    ({ env, browser } = started);
  });

  test('a cross-site form post changes nothing', async () => {
    const user = await createAccount(env);
    const secret = await enableOtp(env, user);
    const context = await newPerson(browser, env);
    const page = await context.newPage();
    await signIn(page, user.username, user.password);
    await enterPasscode(page, currentCode(env, secret));
    assert.match(page.url(), /\/profile$/);

    const attacker = await attackerSite(env.baseUrl);
    try {
      for (const button of ['Claim your prize', 'Claim another prize']) {
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
    const row = await env.deps.db
      .selectFrom('users')
      .select(['mfa_enabled', 'factor_type'])
      .where('id', '=', user.id)
      .executeTakeFirstOrThrow();
    assert.deepEqual(row, { mfa_enabled: 1, factor_type: 'OTP' });
    const devices = await env.deps.db
      .selectFrom('otp_devices')
      .select('id')
      .where('user_id', '=', user.id)
      .execute();
    assert.equal(devices.length, 1);
    // And the session itself is untouched.
    await page.goto('/profile');
    assert.match(page.url(), /\/profile$/);
    await context.close();
  });

  test('page scripts cannot read the session', async () => {
    const user = await createAccount(env);
    const context = await newPerson(browser, env);
    const page = await context.newPage();
    await signIn(page, user.username, user.password);
    assert.match(page.url(), /\/profile$/);
    assert.equal(await page.evaluate(() => document.cookie), '');
    const cookies = await context.cookies();
    const session = cookies.find((cookie) => cookie.name === 'lk_session');
    assert.equal(session?.httpOnly, true);
    assert.equal(session?.sameSite, 'Lax');
    await context.close();
  });
});
