import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createAccount, createAdmin, createTestEnv, dialects, type TestEnv } from './support/harness.js';
import { enableOtp, enableSms, lastSmsPasscode, sendPasscode, startMfaLogin, totpAt } from './support/mfa.js';

for (const dialect of dialects()) {
  describe(`no MFA secret reaches the log (${dialect})`, () => {
    let env: TestEnv;
    before(async () => {
      env = await createTestEnv({ dialect, env: { LATCHKEY_LOG_LEVEL: 'trace' } });
    });
    after(() => env.close());

    test('TOTP secrets and codes, PINs, SMS passcodes, bypass and temporary codes and session ids stay out of the log', async () => {
      const secrets = new Set<string>();
      const admin = await createAdmin(env);
      const otpUser = await createAccount(env, admin);
      const smsUser = await createAccount(env, admin);

      const otpSecret = await enableOtp(env, otpUser);
      secrets.add(otpSecret);
      const otpLogin = await startMfaLogin(env, otpUser);
      secrets.add(otpLogin.sessionId);
      const code = totpAt(otpSecret, env.clock.now());
      secrets.add(code);
      const otpDone = await sendPasscode(env, otpLogin.sessionId, code);
      assert.equal(otpDone.status, 200);
      const otpToken = (otpDone.body.access as { token: { id: string } }).token.id;
      secrets.add(otpToken);
      // A wrong guess puts an attacker's passcode in a request too.
      await sendPasscode(env, (await startMfaLogin(env, otpUser)).sessionId, '4242424');
      secrets.add('4242424');

      const bypass = await env.request(
        'POST',
        `/v2.0/users/${otpUser.id}/RAX-AUTH/multi-factor/bypass-codes`,
        {
          token: otpToken,
          body: { 'RAX-AUTH:bypassCodes': { numberOfCodes: 3 } },
        },
      );
      assert.equal(bypass.status, 200, bypass.text);
      const codes = (bypass.body['RAX-AUTH:bypassCodes'] as unknown as { codes: string[] }).codes;
      for (const bypassCode of codes) secrets.add(bypassCode);
      const viaBypass = await startMfaLogin(env, otpUser);
      assert.equal((await sendPasscode(env, viaBypass.sessionId, codes[0] ?? '')).status, 200);

      await enableSms(env, smsUser);
      for (const message of env.sms.sent) secrets.add(/(\d{4,8})\D*$/.exec(message.body)?.[1] ?? '');
      const smsLogin = await startMfaLogin(env, smsUser);
      secrets.add(smsLogin.sessionId);
      const passcode = lastSmsPasscode(env);
      secrets.add(passcode);
      assert.equal((await sendPasscode(env, smsLogin.sessionId, passcode)).status, 200);

      const temporary = await env.request(
        'POST',
        `/v2.0/users/${smsUser.id}/RAX-AUTH/multi-factor/temporary-code`,
        {
          token: admin.token,
        },
      );
      assert.equal(temporary.status, 202, temporary.text);
      secrets.add(/(\d{8})\D*$/.exec(env.sms.last()?.body ?? '')?.[1] ?? '');

      secrets.delete('');
      assert.ok(secrets.size >= 12, 'the flow produced the secrets it should');
      // Drop the fields that hold clock readings, then look for codes as whole numbers only.
      const log = env.logs
        .map((line) => {
          const {
            time: _time,
            pid: _pid,
            hostname: _hostname,
            ms: _ms,
            ...rest
          } = JSON.parse(line) as Record<string, unknown>;
          return JSON.stringify(rest);
        })
        .join('\n');
      assert.ok(log.length > 0);
      for (const secret of secrets) {
        const pattern = /^\d+$/.test(secret) ? new RegExp(`(?<!\\d)${secret}(?!\\d)`) : undefined;
        const found = pattern ? pattern.test(log) : log.includes(secret);
        assert.ok(!found, `a secret of length ${secret.length} is in the log`);
      }
      // Message bodies carry codes: the phone number and text never appear either.
      assert.ok(!log.includes('+12015550123'));
    });
  });
}
