import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { ConfigError, loadConfig } from '../src/config/config.js';
import { assertFault, tokenOf } from './support/api.js';
import { createAccount, createTestEnv, dialects, passwordLogin, type TestEnv } from './support/harness.js';
import { enableOtp, enableSms, lastSmsPasscode, sendPasscode, startMfaLogin, totpAt } from './support/mfa.js';

/** The value of one sample in Prometheus text, 0 when the series does not exist yet. */
async function sample(env: TestEnv, series: string): Promise<number> {
  const response = await env.request('GET', '/metrics');
  assert.equal(response.status, 200, response.text);
  const line = response.text.split('\n').find((candidate) => candidate.startsWith(`${series} `));
  return line === undefined ? 0 : Number(line.slice(series.length + 1));
}

for (const dialect of dialects()) {
  describe(`metrics an operator alerts on (${dialect})`, () => {
    let env: TestEnv;
    before(async () => {
      env = await createTestEnv({
        dialect,
        env: { LATCHKEY_MFA_LOCKOUT_THRESHOLD: '3', LATCHKEY_SMS_MAX_PER_NUMBER_10MIN: '3' },
      });
    });
    after(() => env.close());

    test('process and event-loop metrics are exposed', async () => {
      const text = (await env.request('GET', '/metrics')).text;
      for (const name of [
        'process_cpu_user_seconds_total',
        'process_resident_memory_bytes',
        'nodejs_eventloop_lag_seconds',
        'nodejs_heap_size_used_bytes',
      ]) {
        assert.match(text, new RegExp(`^${name} `, 'm'), `${name} is exposed`);
      }
    });

    test('the PostgreSQL pool is exposed as gauges; SQLite has no pool', async () => {
      const text = (await env.request('GET', '/metrics')).text;
      if (dialect === 'postgres') {
        assert.equal(await sample(env, 'latchkey_db_pool_max_connections'), 10);
        assert.ok((await sample(env, 'latchkey_db_pool_connections{state="idle"}')) >= 1, text);
        assert.match(text, /^latchkey_db_pool_connections\{state="in_use"\} \d+$/m);
        assert.match(text, /^latchkey_db_pool_waiting_requests \d+$/m);
      } else {
        assert.doesNotMatch(text, /latchkey_db_pool/);
      }
    });

    test('MFA challenges and completions are counted by factor', async () => {
      const otpUser = await createAccount(env);
      const secret = await enableOtp(env, otpUser);
      const otpChallenges = await sample(env, 'latchkey_mfa_challenges_total{factor="OTP"}');
      const otpCompletions = await sample(env, 'latchkey_mfa_completions_total{factor="OTP"}');
      const { sessionId } = await startMfaLogin(env, otpUser);
      assert.equal(await sample(env, 'latchkey_mfa_challenges_total{factor="OTP"}'), otpChallenges + 1);
      assert.equal(await sample(env, 'latchkey_mfa_completions_total{factor="OTP"}'), otpCompletions);
      tokenOf(await sendPasscode(env, sessionId, totpAt(secret, env.clock.now())));
      assert.equal(await sample(env, 'latchkey_mfa_completions_total{factor="OTP"}'), otpCompletions + 1);

      const smsUser = await createAccount(env);
      await enableSms(env, smsUser, '+12015550140');
      const smsCompletions = await sample(env, 'latchkey_mfa_completions_total{factor="SMS"}');
      const sms = await startMfaLogin(env, smsUser);
      assert.ok((await sample(env, 'latchkey_mfa_challenges_total{factor="SMS"}')) >= 1);
      tokenOf(await sendPasscode(env, sms.sessionId, lastSmsPasscode(env, '+12015550140')));
      assert.equal(await sample(env, 'latchkey_mfa_completions_total{factor="SMS"}'), smsCompletions + 1);
    });

    test('a lockout is counted once, when the account locks', async () => {
      const user = await createAccount(env);
      await enableOtp(env, user);
      const before = await sample(env, 'latchkey_lockouts_total{kind="mfa"}');
      const { sessionId } = await startMfaLogin(env, user);
      const statuses: number[] = [];
      for (let attempt = 0; attempt < 5; attempt++)
        statuses.push((await sendPasscode(env, sessionId, '000000')).status);
      assert.deepEqual(statuses, [401, 401, 403, 403, 403]);
      assert.equal(await sample(env, 'latchkey_lockouts_total{kind="mfa"}'), before + 1);
    });

    test('SMS sent and failed are counted per provider, and the toll-fraud limit as a throttle', async () => {
      const user = await createAccount(env);
      await enableSms(env, user, '+12015550150');
      const sent = await sample(env, 'latchkey_sms_messages_total{provider="fake",outcome="sent"}');
      const failed = await sample(env, 'latchkey_sms_messages_total{provider="fake",outcome="failed"}');
      await startMfaLogin(env, user);
      assert.equal(
        await sample(env, 'latchkey_sms_messages_total{provider="fake",outcome="sent"}'),
        sent + 1,
      );
      env.sms.failing = true;
      try {
        assertFault(await passwordLogin(env, user.username), 503, 'serviceUnavailable');
      } finally {
        env.sms.failing = false;
      }
      assert.equal(
        await sample(env, 'latchkey_sms_messages_total{provider="fake",outcome="failed"}'),
        failed + 1,
      );

      // The PIN and one passcode went to this number already: the third message is the last
      // one the 10-minute limit allows, the fourth is refused.
      const throttled = await sample(env, 'latchkey_throttled_requests_total{reason="sms_limit"}');
      await startMfaLogin(env, user);
      assertFault(await passwordLogin(env, user.username), 429, 'overLimit');
      assert.equal(await sample(env, 'latchkey_throttled_requests_total{reason="sms_limit"}'), throttled + 1);
      assert.equal(
        await sample(env, 'latchkey_http_requests_total{route="/v2.0/tokens",method="POST",status="429"}'),
        1,
      );
    });
  });
}

describe('/metrics off loopback', () => {
  test('listening beyond loopback without LATCHKEY_METRICS_TOKEN is refused at start, naming the key', () => {
    for (const host of ['0.0.0.0', '::', '192.0.2.10', 'latchkey.example.com']) {
      assert.throws(
        () => loadConfig({ LATCHKEY_HOST: host }),
        (error: unknown) =>
          error instanceof ConfigError &&
          error.variable === 'LATCHKEY_METRICS_TOKEN' &&
          error.message.includes(host),
        host,
      );
      assert.equal(
        loadConfig({ LATCHKEY_HOST: host, LATCHKEY_METRICS_TOKEN: 'a-long-scrape-token-0123' }).host,
        host,
      );
    }
  });

  test('loopback addresses need no token', () => {
    for (const host of ['127.0.0.1', '127.0.0.53', '::1', '[::1]', 'localhost', '::ffff:127.0.0.1']) {
      assert.equal(loadConfig({ LATCHKEY_HOST: host }).metricsToken, undefined, host);
    }
  });
});
