import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, test } from 'node:test';
import { Messages } from '../src/core/errors.js';
import { randomHex } from '../src/crypto/random.js';
import { BypassMessages, formatXsdDuration, parseXsdDuration } from '../src/factors/bypass-codes/generate.js';
import { accessOf, apiKeyLogin, assertFault, tokenOf } from './support/api.js';
import {
  createAccount,
  createAdmin,
  createTestEnv,
  createUserVia,
  dialects,
  passwordLogin,
  type Response,
  type TestEnv,
  type TestUser,
} from './support/harness.js';
import { enableOtp, sendPasscode, startMfaLogin } from './support/mfa.js';

const MINUTE = 60_000;
const bypassPath = (userId: string) => `/v2.0/users/${userId}/RAX-AUTH/multi-factor/bypass-codes`;

interface Batch {
  codes: string[];
  validityDuration?: string;
}

function batchOf(response: Response): Batch {
  assert.equal(response.status, 200, response.text);
  assert.deepEqual(Object.keys(response.body), ['RAX-AUTH:bypassCodes']);
  return response.body['RAX-AUTH:bypassCodes'] as unknown as Batch;
}

describe('xsd:duration parsing', () => {
  test('the forms clients send are all understood', () => {
    const cases: [string, number][] = [
      ['PT30M', 30 * MINUTE],
      ['PT1H', 60 * MINUTE],
      ['PT20M0.000S', 20 * MINUTE],
      ['P0DT0H30M', 30 * MINUTE],
      ['P0Y0M0DT0H30M0S', 30 * MINUTE],
      ['P1D', 1440 * MINUTE],
      ['P1W', 7 * 1440 * MINUTE],
      ['PT90S', 90_000],
      ['PT1.5S', 1500],
      ['PT2H30M', 150 * MINUTE],
      [' PT5M ', 5 * MINUTE],
    ];
    for (const [text, ms] of cases) assert.equal(parseXsdDuration(text), ms, text);
  });

  test('malformed or unbounded durations are a 400', () => {
    for (const text of [
      '',
      '30',
      'P',
      'PT',
      'P1DT',
      'PT30X',
      'pt30m',
      'T30M',
      'PT.5S',
      'P1Y',
      'P2M',
      'PT1H30',
    ]) {
      assert.throws(
        () => parseXsdDuration(text),
        (error: { status?: number }) => error.status === 400,
        `'${text}'`,
      );
    }
    assert.throws(
      () => parseXsdDuration(`P${'9'.repeat(400)}D`),
      (error: { status?: number }) => error.status === 400,
    );
  });

  test('durations are answered in the Rackspace form', () => {
    assert.equal(formatXsdDuration(30 * MINUTE), 'PT30M0.000S');
    assert.equal(formatXsdDuration(20 * MINUTE), 'PT20M0.000S');
    assert.equal(formatXsdDuration(180 * MINUTE), 'PT3H0M0.000S');
    assert.equal(formatXsdDuration(90_500), 'PT1M30.500S');
  });
});

for (const dialect of dialects()) {
  describe(`bypass codes (${dialect})`, () => {
    let env: TestEnv;
    let admin: TestUser;
    before(async () => {
      env = await createTestEnv({ dialect });
      admin = await createAdmin(env);
    });
    after(() => env.close());
    // The clock moves far in some tests; every test starts with a live administrator token.
    beforeEach(async () => {
      admin.token = tokenOf(await passwordLogin(env, admin.username));
    });

    /** An account owner with OTP MFA on, acting with an API-key token (enabling MFA keeps it). */
    async function mfaUser(creator?: TestUser): Promise<TestUser> {
      const user = creator ? await createUserVia(env, creator, 'member') : await createAccount(env, admin);
      await enableOtp(env, user);
      user.token = tokenOf(await apiKeyLogin(env, user.username, user.apiKey));
      return user;
    }

    function generate(user: TestUser, body?: unknown, token = user.token): Promise<Response> {
      return env.request('POST', bypassPath(user.id), body === undefined ? { token } : { token, body });
    }

    async function loginWith(user: TestUser, code: string): Promise<Response> {
      const { sessionId } = await startMfaLogin(env, user);
      return sendPasscode(env, sessionId, code);
    }

    test('a user gets one eight-digit code by default, which never expires', async () => {
      const user = await mfaUser();
      for (const body of [undefined, {}, { 'RAX-AUTH:bypassCodes': {} }]) {
        const batch = batchOf(await generate(user, body));
        assert.equal(batch.codes.length, 1);
        assert.match(batch.codes[0] ?? '', /^\d{8}$/);
        assert.equal(batch.validityDuration, undefined, 'no validityDuration: valid until used');
      }
      const [code] = batchOf(await generate(user)).codes;
      env.clock.advance(400 * 24 * 60 * MINUTE);
      assert.equal((await loginWith(user, code ?? '')).status, 200, 'still good more than a year later');
    });

    test('a user may ask for up to ten codes, as a string or a number, all distinct', async () => {
      const user = await mfaUser();
      for (const numberOfCodes of ['10', 10, ' 7 ', 1, '1']) {
        const batch = batchOf(
          await generate(user, { 'RAX-AUTH:bypassCodes': { validityDuration: 'PT20M', numberOfCodes } }),
        );
        const expected = Number(String(numberOfCodes).trim());
        assert.equal(batch.codes.length, expected, `numberOfCodes ${JSON.stringify(numberOfCodes)}`);
        assert.equal(new Set(batch.codes).size, expected, 'unique within the batch');
        for (const code of batch.codes) assert.match(code, /^\d{8}$/);
      }
    });

    test('a numberOfCodes outside 1 to 10, or not a whole number, is refused', async () => {
      const user = await mfaUser();
      for (const numberOfCodes of [0, '0', 11, '11', -1, '-1', 2.5, '2.5', 'ten', '', 1e21]) {
        assertFault(
          await generate(user, { 'RAX-AUTH:bypassCodes': { numberOfCodes } }),
          400,
          'badRequest',
          BypassMessages.badCount,
        );
      }
      assertFault(
        await generate(user, { 'RAX-AUTH:bypassCodes': { numberOfCodes: true } }),
        400,
        'badRequest',
      );
    });

    test('a bypass code is accepted as the passcode once and refused the second time', async () => {
      const user = await mfaUser();
      const [first, second] = batchOf(
        await generate(user, { 'RAX-AUTH:bypassCodes': { numberOfCodes: 2 } }),
      ).codes;
      const ok = await loginWith(user, second ?? '');
      // A bypass code reports the user's own factor (API.md "authenticatedBy").
      assert.deepEqual(accessOf(ok).token['RAX-AUTH:authenticatedBy'], ['OTPPASSCODE', 'PASSWORD']);
      const replay = await loginWith(user, second ?? '');
      assertFault(replay, 401, 'unauthorized', Messages.wrongPasscode);
      assert.equal(
        (await loginWith(user, first ?? '')).status,
        200,
        'the other code of the batch still works',
      );
      const used = await env.deps.db
        .selectFrom('security_events')
        .select('detail')
        .where('user_id', '=', user.id)
        .where('type', '=', 'bypass_code.used')
        .execute();
      assert.equal(used.length, 2);
    });

    test('two concurrent logins with one bypass code: only one gets a token', async () => {
      const user = await mfaUser();
      const [code] = batchOf(await generate(user)).codes;
      const sessions = [await startMfaLogin(env, user), await startMfaLogin(env, user)];
      const results = await Promise.all(
        sessions.map(({ sessionId }) => sendPasscode(env, sessionId, code ?? '')),
      );
      assert.deepEqual(results.map((result) => result.status).sort(), [200, 401]);
    });

    test('a new batch replaces the old one', async () => {
      const user = await mfaUser();
      const old = batchOf(await generate(user, { 'RAX-AUTH:bypassCodes': { numberOfCodes: 3 } })).codes;
      const fresh = batchOf(await generate(user)).codes;
      assertFault(await loginWith(user, old[0] ?? ''), 401, 'unauthorized');
      assert.equal((await loginWith(user, fresh[0] ?? '')).status, 200);
    });

    test('codes are stored only as keyed hashes, and the event gives the count only', async () => {
      const user = await mfaUser();
      const { codes } = batchOf(await generate(user, { 'RAX-AUTH:bypassCodes': { numberOfCodes: 4 } }));
      const rows = await env.deps.db
        .selectFrom('bypass_codes')
        .selectAll()
        .where('user_id', '=', user.id)
        .execute();
      assert.equal(rows.length, 4);
      const stored = JSON.stringify(rows);
      for (const code of codes) assert.ok(!stored.includes(code), 'no code in clear at rest');
      const event = await env.deps.db
        .selectFrom('security_events')
        .selectAll()
        .where('user_id', '=', user.id)
        .where('type', '=', 'bypass_codes.generated')
        .executeTakeFirstOrThrow();
      assert.equal(event.actor_id, user.id);
      const detail = JSON.parse(event.detail) as Record<string, unknown>;
      assert.equal(detail.count, 4);
      for (const code of codes) assert.ok(!event.detail.includes(code), 'no code in the event');
      assert.ok(
        env.logs.every((line) => codes.every((code) => !line.includes(code))),
        'no code in the log',
      );
    });

    test('a self-chosen validityDuration makes the codes expire', async () => {
      const user = await mfaUser();
      const batch = batchOf(
        await generate(user, { 'RAX-AUTH:bypassCodes': { validityDuration: 'PT20M', numberOfCodes: '2' } }),
      );
      assert.equal(batch.validityDuration, 'PT20M0.000S');
      env.clock.advance(20 * MINUTE - 1);
      assert.equal(
        (await loginWith(user, batch.codes[0] ?? '')).status,
        200,
        'valid until the last millisecond',
      );
      env.clock.advance(1);
      assertFault(await loginWith(user, batch.codes[1] ?? ''), 401, 'unauthorized');
    });

    test('durations are read in every xsd form and answered in the Rackspace form', async () => {
      const user = await mfaUser();
      for (const [sent, answered] of [
        ['PT20M0.000S', 'PT20M0.000S'],
        ['P0DT0H45M', 'PT45M0.000S'],
        ['PT90S', 'PT1M30.000S'],
        ['PT2H', 'PT2H0M0.000S'],
        ['P1D', 'PT24H0M0.000S'],
      ]) {
        const batch = batchOf(await generate(user, { 'RAX-AUTH:bypassCodes': { validityDuration: sent } }));
        assert.equal(batch.validityDuration, answered, sent);
      }
      for (const sent of ['30', 'PT', 'PT30X', 'P1Y', 'pt30m', '-PT5M']) {
        assertFault(
          await generate(user, { 'RAX-AUTH:bypassCodes': { validityDuration: sent } }),
          400,
          'badRequest',
        );
      }
      assertFault(
        await generate(user, { 'RAX-AUTH:bypassCodes': { validityDuration: 'PT0S' } }),
        400,
        'badRequest',
        BypassMessages.zeroDuration,
      );
    });

    test('an administrator’s code for another user is a single code valid thirty minutes', async () => {
      const user = await mfaUser();
      const batch = batchOf(await generate(user, undefined, admin.token));
      assert.equal(batch.codes.length, 1);
      assert.equal(batch.validityDuration, 'PT30M0.000S');
      const event = await env.deps.db
        .selectFrom('security_events')
        .select(['actor_id', 'detail'])
        .where('user_id', '=', user.id)
        .where('type', '=', 'bypass_codes.generated')
        .executeTakeFirstOrThrow();
      assert.equal(event.actor_id, admin.id);
      env.clock.advance(30 * MINUTE);
      assertFault(await loginWith(user, batch.codes[0] ?? ''), 401, 'unauthorized', Messages.wrongPasscode);
    });

    test('an administrator’s code works within its validity', async () => {
      const user = await mfaUser();
      const batch = batchOf(
        await generate(
          user,
          { 'RAX-AUTH:bypassCodes': { validityDuration: 'PT5M', numberOfCodes: '1' } },
          admin.token,
        ),
      );
      assert.equal(batch.validityDuration, 'PT5M0.000S');
      env.clock.advance(5 * MINUTE - 1000);
      assert.equal((await loginWith(user, batch.codes[0] ?? '')).status, 200);
    });

    test('for another user: at most 180 minutes, and never more than one code', async () => {
      const owner = await createAccount(env, admin);
      const member = await mfaUser(owner);
      const ownerToken = owner.token;
      const max = batchOf(
        await generate(member, { 'RAX-AUTH:bypassCodes': { validityDuration: 'PT180M' } }, ownerToken),
      );
      assert.equal(max.validityDuration, 'PT3H0M0.000S');
      assert.equal(
        batchOf(await generate(member, { 'RAX-AUTH:bypassCodes': { validityDuration: 'PT1H' } }, ownerToken))
          .validityDuration,
        'PT1H0M0.000S',
      );
      for (const validityDuration of ['PT181M', 'PT3H0M1S', 'P1D']) {
        assertFault(
          await generate(member, { 'RAX-AUTH:bypassCodes': { validityDuration } }, ownerToken),
          400,
          'badRequest',
          BypassMessages.adminTooLong,
        );
      }
      for (const numberOfCodes of [2, '10']) {
        assertFault(
          await generate(member, { 'RAX-AUTH:bypassCodes': { numberOfCodes } }, ownerToken),
          400,
          'badRequest',
          BypassMessages.oneForOthers,
        );
      }
    });

    test('a user without MFA enabled gets no bypass codes', async () => {
      const user = await createAccount(env, admin);
      assertFault(await generate(user), 400, 'badRequest', BypassMessages.mfaNotEnabled);
      assertFault(
        await generate(user, undefined, admin.token),
        400,
        'badRequest',
        BypassMessages.mfaNotEnabled,
      );
      const rows = await env.deps.db
        .selectFrom('bypass_codes')
        .select('id')
        .where('user_id', '=', user.id)
        .execute();
      assert.equal(rows.length, 0);
    });

    test('only the user and those with precedence over it may generate codes', async () => {
      const owner = await mfaUser();
      const member = await createUserVia(env, owner, 'member');
      const stranger = await createAccount(env, admin);
      assertFault(await generate(owner, undefined, member.token), 403, 'forbidden');
      assertFault(await generate(owner, undefined, stranger.token), 403, 'forbidden');
      assertFault(await env.request('POST', bypassPath(owner.id)), 401, 'unauthorized');
      assertFault(
        await env.request('POST', bypassPath(randomHex()), { token: admin.token, body: {} }),
        404,
        'itemNotFound',
      );
    });

    test('disabling MFA voids every bypass code', async () => {
      const user = await mfaUser();
      const [code] = batchOf(await generate(user)).codes;
      const mfa = `/v2.0/users/${user.id}/RAX-AUTH/multi-factor`;
      const off = await env.request('PUT', mfa, {
        token: user.token,
        body: { 'RAX-AUTH:multiFactor': { enabled: false } },
      });
      assert.equal(off.status, 204, off.text);
      const on = await env.request('PUT', mfa, {
        token: user.token,
        body: { 'RAX-AUTH:multiFactor': { enabled: true } },
      });
      assert.equal(on.status, 204, on.text);
      assertFault(await loginWith(user, code ?? ''), 401, 'unauthorized');
    });
  });
}
