import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Messages } from '../src/core/errors.js';
import { assertFault } from './support/api.js';
import {
  createAccount,
  createAdmin,
  createTestEnv,
  dialects,
  PASSWORD,
  passwordLogin,
  type TestEnv,
  type TestUser,
} from './support/harness.js';
import { enableOtp, sendPasscode, startMfaLogin, totpAt } from './support/mfa.js';
import { requireTool } from './support/tools.js';

const WRONG = 'Wrongpass1';

/** Counts argon2 verifications, to show which answers cost none. */
function countVerifications(env: TestEnv): { readonly count: number } {
  const hasher = env.deps.passwords;
  const original = hasher.verifyOrDummy.bind(hasher);
  const counter = { count: 0 };
  hasher.verifyOrDummy = (hash, password) => {
    counter.count += 1;
    return original(hash, password);
  };
  return counter;
}

function apiKeyLogin(env: TestEnv, user: TestUser, apiKey = user.apiKey, remoteAddress?: string) {
  return env.request('POST', '/v2.0/tokens', {
    body: { auth: { 'RAX-KSKEY:apiKeyCredentials': { username: user.username, apiKey } } },
    ...(remoteAddress === undefined ? {} : { remoteAddress }),
  });
}

async function unlock(env: TestEnv, admin: TestUser, user: TestUser) {
  return env.request('PUT', `/v2.0/users/${user.id}/RAX-AUTH/multi-factor`, {
    token: admin.token,
    body: { 'RAX-AUTH:multiFactor': { unlock: true } },
  });
}

for (const dialect of dialects()) {
  describe(`password guessing per account (${dialect})`, () => {
    let env: TestEnv;
    let admin: TestUser;
    before(async () => {
      env = await createTestEnv({ dialect });
      admin = await createAdmin(env);
    });
    after(() => env.close());

    test('regression: unlimited wrong passwords: the sixth locks, and then the right password is refused like a wrong one', async () => {
      const user = await createAccount(env, admin);
      for (let attempt = 1; attempt <= 6; attempt++) {
        assertFault(
          await passwordLogin(env, user.username, WRONG),
          401,
          'unauthorized',
          Messages.badPassword,
        );
      }
      const right = await passwordLogin(env, user.username, PASSWORD);
      const wrong = await passwordLogin(env, user.username, WRONG);
      assertFault(right, 401, 'unauthorized', Messages.badPassword);
      assert.equal(right.text, wrong.text, 'a right and a wrong password get the same body');
      assert.deepEqual(
        Object.keys(right.headers).sort(),
        Object.keys(wrong.headers).sort(),
        'and the same headers',
      );
      const locked = await env.deps.db
        .selectFrom('security_events')
        .select('type')
        .where('user_id', '=', user.id)
        .where('type', '=', 'password.locked')
        .execute();
      assert.equal(locked.length, 1, 'the lock is recorded once');
    });

    test('a locked account still spends an argon2 verification per attempt, so it answers in the same time', async () => {
      const user = await createAccount(env, admin);
      for (let attempt = 1; attempt <= 6; attempt++) await passwordLogin(env, user.username, WRONG);
      const verifications = countVerifications(env);
      await passwordLogin(env, user.username, PASSWORD);
      await passwordLogin(env, user.username, WRONG);
      assert.equal(verifications.count, 2);
    });

    test('the API key keeps working while the password is locked', async () => {
      const user = await createAccount(env, admin);
      for (let attempt = 1; attempt <= 6; attempt++) await passwordLogin(env, user.username, WRONG);
      assert.equal((await passwordLogin(env, user.username)).status, 401);
      assert.equal((await apiKeyLogin(env, user)).status, 200);
    });

    test('the lock lifts after LATCHKEY_PASSWORD_LOCKOUT_SECONDS (1800 by default)', async () => {
      const user = await createAccount(env, admin);
      for (let attempt = 1; attempt <= 6; attempt++) await passwordLogin(env, user.username, WRONG);
      env.clock.advance(1_799_000);
      assert.equal((await passwordLogin(env, user.username)).status, 401);
      env.clock.advance(2_000);
      assert.equal((await passwordLogin(env, user.username)).status, 200);
    });

    test('a success resets the count', async () => {
      const user = await createAccount(env, admin);
      for (let round = 0; round < 3; round++) {
        for (let attempt = 1; attempt <= 5; attempt++) await passwordLogin(env, user.username, WRONG);
        assert.equal((await passwordLogin(env, user.username)).status, 200, `round ${round}`);
      }
    });

    test("an administrator's unlock clears the password lock of a user without MFA; the user cannot unlock itself", async () => {
      const user = await createAccount(env, admin);
      for (let attempt = 1; attempt <= 6; attempt++) await passwordLogin(env, user.username, WRONG);
      assert.equal((await unlock(env, user, user)).status, 403);
      assert.equal((await passwordLogin(env, user.username)).status, 401);
      assert.equal((await unlock(env, admin, user)).status, 204);
      assert.equal((await passwordLogin(env, user.username)).status, 200);
    });

    test('40 concurrent wrong passwords count no further than the threshold, and the right one is then refused', async () => {
      const user = await createAccount(env, admin);
      const answers = await Promise.all(
        Array.from({ length: 40 }, () => passwordLogin(env, user.username, WRONG)),
      );
      assert.ok(answers.every((answer) => answer.status === 401));
      const row = await env.deps.db
        .selectFrom('users')
        .select('password_failed_count')
        .where('id', '=', user.id)
        .executeTakeFirstOrThrow();
      assert.equal(row.password_failed_count, 6);
      assertFault(await passwordLogin(env, user.username), 401, 'unauthorized', Messages.badPassword);
    });

    test('regression: a locked MFA user’s step 1 answered a right password differently from a wrong one', async () => {
      const user = await createAccount(env, admin);
      const secret = await enableOtp(env, user);
      const { sessionId } = await startMfaLogin(env, user);
      for (let attempt = 1; attempt <= 7; attempt++) await sendPasscode(env, sessionId, '00000000');
      const right = await passwordLogin(env, user.username, PASSWORD);
      const wrong = await passwordLogin(env, user.username, WRONG);
      assert.equal(right.status, wrong.status);
      assert.equal(right.text, wrong.text);
      assertFault(right, 401, 'unauthorized', Messages.locked);
      assert.equal(right.headers['www-authenticate'], undefined);
      // The administrator's unlock clears both locks; the user then logs in with both factors.
      assert.equal((await unlock(env, admin, user)).status, 204);
      const again = await startMfaLogin(env, user);
      assert.equal((await sendPasscode(env, again.sessionId, totpAt(secret, env.clock.now()))).status, 200);
    });
  });

  describe(`password lock settings (${dialect})`, () => {
    test('LATCHKEY_PASSWORD_LOCKOUT_ATTEMPTS=0 turns the lock off', async () => {
      const env = await createTestEnv({ dialect, env: { LATCHKEY_PASSWORD_LOCKOUT_ATTEMPTS: '0' } });
      try {
        const user = await createAccount(env);
        for (let attempt = 1; attempt <= 10; attempt++) await passwordLogin(env, user.username, WRONG);
        assert.equal((await passwordLogin(env, user.username)).status, 200);
      } finally {
        await env.close();
      }
    });

    test('LATCHKEY_PASSWORD_LOCKOUT_SECONDS=0 keeps the lock until an administrator unlocks', async () => {
      const env = await createTestEnv({
        dialect,
        env: { LATCHKEY_PASSWORD_LOCKOUT_SECONDS: '0', LATCHKEY_PASSWORD_LOCKOUT_ATTEMPTS: '3' },
      });
      try {
        const admin = await createAdmin(env);
        const user = await createAccount(env, admin);
        for (let attempt = 1; attempt <= 3; attempt++) await passwordLogin(env, user.username, WRONG);
        env.clock.advance(6 * 3_600_000);
        assert.equal((await passwordLogin(env, user.username)).status, 401);
        assert.equal((await unlock(env, admin, user)).status, 204);
        assert.equal((await passwordLogin(env, user.username)).status, 200);
      } finally {
        await env.close();
      }
    });
  });

  describe(`failed authentications per source address (${dialect})`, () => {
    let env: TestEnv;
    let admin: TestUser;
    before(async () => {
      env = await createTestEnv({ dialect, env: { LATCHKEY_PASSWORD_LOCKOUT_ATTEMPTS: '0' } });
      admin = await createAdmin(env);
    });
    after(() => env.close());

    test('regression: unlimited failures from one address: the 101st in 10 minutes is 429 with Retry-After, before any argon2 work', async () => {
      const user = await createAccount(env, admin);
      const source = '198.51.100.7';
      for (let attempt = 1; attempt <= 100; attempt++) {
        const answer = await passwordLogin(env, `nobody${attempt}`, WRONG, source);
        assert.equal(answer.status, 401, `attempt ${attempt}`);
      }
      const verifications = countVerifications(env);
      const refused = await passwordLogin(env, user.username, PASSWORD, source);
      assertFault(refused, 429, 'overLimit');
      const retryAfter = Number(refused.headers['retry-after']);
      assert.ok(retryAfter >= 1 && retryAfter <= 600, `Retry-After ${retryAfter}`);
      assert.equal(verifications.count, 0, 'no password was verified');
      // API keys count and are refused too; another address is not affected.
      assertFault(await apiKeyLogin(env, user, user.apiKey, source), 429, 'overLimit');
      assert.equal((await passwordLogin(env, user.username, PASSWORD, '198.51.100.8')).status, 200);
      const events = await env.deps.db
        .selectFrom('security_events')
        .select(['count'])
        .where('type', '=', 'login.rate_limited')
        .where('source', '=', source)
        .execute();
      assert.equal(events.length, 1, 'refusals in one minute are one event');
      assert.equal(events[0]?.count, 2);
      env.clock.advance(retryAfter * 1000);
      assert.equal((await passwordLogin(env, user.username, PASSWORD, source)).status, 200);
    });

    test('successes do not count, and wrong API keys and passcodes do', async () => {
      const user = await createAccount(env, admin);
      const source = '198.51.100.20';
      for (let attempt = 1; attempt <= 150; attempt++) {
        assert.equal((await passwordLogin(env, user.username, PASSWORD, source)).status, 200);
      }
      for (let attempt = 1; attempt <= 50; attempt++) {
        assert.equal((await apiKeyLogin(env, user, '0'.repeat(32), source)).status, 401);
      }
      for (let attempt = 1; attempt <= 50; attempt++) {
        const answer = await env.request('POST', '/v2.0/tokens', {
          headers: { 'X-SessionId': `made-up-session-${attempt}` },
          body: { auth: { 'RAX-AUTH:passcodeCredentials': { passcode: '1234567' } } },
          remoteAddress: source,
        });
        assert.equal(answer.status, 401);
      }
      assertFault(await passwordLogin(env, user.username, PASSWORD, source), 429, 'overLimit');
    });

    test('IPv6 addresses of one /64 count as one source', async () => {
      for (let attempt = 1; attempt <= 100; attempt++) {
        await passwordLogin(env, 'nobody', WRONG, `2001:db8:1:2::${attempt.toString(16)}`);
      }
      assertFault(await passwordLogin(env, 'nobody', WRONG, '2001:db8:1:2:ffff::1'), 429, 'overLimit');
      assert.equal((await passwordLogin(env, 'nobody', WRONG, '2001:db8:1:3::1')).status, 401);
    });
  });

  describe(`X-Forwarded-For and LATCHKEY_TRUSTED_PROXIES (${dialect})`, () => {
    let env: TestEnv;
    before(async () => {
      env = await createTestEnv({
        dialect,
        env: { LATCHKEY_TRUSTED_PROXIES: '10.1.0.0/16', LATCHKEY_LOGIN_FAILURES_PER_SOURCE: '3' },
      });
    });
    after(() => env.close());

    const fail = (remoteAddress: string, forwardedFor: string) =>
      env.request('POST', '/v2.0/tokens', {
        body: { auth: { passwordCredentials: { username: 'nobody', password: WRONG } } },
        headers: { 'X-Forwarded-For': forwardedFor },
        remoteAddress,
      });

    test('a trusted proxy’s X-Forwarded-For names the source; anyone else’s is ignored', async () => {
      // Through the proxy: three clients, each with its own allowance.
      for (const client of ['203.0.113.1', '203.0.113.2', '203.0.113.3']) {
        for (let attempt = 1; attempt <= 3; attempt++)
          assert.equal((await fail('10.1.2.3', client)).status, 401);
      }
      assert.equal((await fail('10.1.2.3', '203.0.113.1')).status, 429);
      // Not a proxy: a made-up X-Forwarded-For changes nothing, the address itself is counted.
      for (let attempt = 1; attempt <= 3; attempt++) {
        assert.equal((await fail('192.0.2.9', `203.0.113.${100 + attempt}`)).status, 401);
      }
      assert.equal((await fail('192.0.2.9', '203.0.113.200')).status, 429);
    });
  });
}

/** Redis at LATCHKEY_TEST_REDIS_URL (CI sets it): the per-source counters move there. */
const redisUrl = process.env.LATCHKEY_TEST_REDIS_URL;

describe('failed authentications per source, counted in Redis by two instances', {
  skip: requireTool('redis'),
}, () => {
  const instances: TestEnv[] = [];
  before(async () => {
    const prefix = `latchkey-test:${Date.now().toString(36)}${Math.random().toString(36).slice(2)}:`;
    for (let index = 0; index < 2; index++) {
      instances.push(
        await createTestEnv({
          env: { LATCHKEY_REDIS_URL: redisUrl ?? '', LATCHKEY_LOGIN_FAILURES_PER_SOURCE: '20' },
          redisKeyPrefix: prefix,
        }),
      );
    }
  });
  after(async () => {
    for (const instance of instances) await instance.close();
  });

  test('60 concurrent failures over two instances: exactly 20 are judged, the rest are 429', async () => {
    const source = '198.51.100.77';
    const verifications = instances.map(countVerifications);
    const answers = await Promise.all(
      Array.from({ length: 60 }, (_, index) => {
        const instance = instances[index % 2] as TestEnv;
        return passwordLogin(instance, 'nobody', WRONG, source);
      }),
    );
    assert.equal(answers.filter((answer) => answer.status === 401).length, 20);
    assert.equal(answers.filter((answer) => answer.status === 429).length, 40);
    assert.equal(
      verifications.reduce((sum, counter) => sum + counter.count, 0),
      20,
    );
    const rows = await (instances[0] as TestEnv).deps.db.selectFrom('source_failures').selectAll().execute();
    assert.equal(rows.length, 0, 'nothing counted in the database when Redis is used');
  });
});

describe('failed authentications per source with Redis unreachable', () => {
  test('logins answer 503 rather than guess without a limit, and quickly', async () => {
    const env = await createTestEnv({ env: { LATCHKEY_REDIS_URL: 'redis://127.0.0.1:1' } });
    try {
      const started = performance.now();
      const answer = await passwordLogin(env, 'nobody', WRONG);
      assertFault(answer, 503, 'serviceUnavailable');
      assert.ok(performance.now() - started < 5000);
      assert.equal((await env.request('GET', '/health')).status, 200, 'the rest of the service answers');
    } finally {
      await env.close();
    }
  });
});
