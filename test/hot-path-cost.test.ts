import assert from 'node:assert/strict';
import diagnostics from 'node:diagnostics_channel';
import { after, before, describe, test } from 'node:test';
import type {
  PublicKeyCredentialCreationOptionsJSON,
  PublicKeyCredentialRequestOptionsJSON,
} from '@simplewebauthn/server';
import type { FastifyRequest } from 'fastify';
import type { KyselyPlugin, PluginTransformQueryArgs, PluginTransformResultArgs } from 'kysely';
import { optionsInPage, SoftwareAuthenticator } from '../bench/software-authenticator.js';
import {
  createAccount,
  createAdmin,
  createTestEnv,
  dialects,
  passwordLogin,
  type TestEnv,
  type TestUser,
} from './support/harness.js';
import { enableOtp, sendPasscode, startMfaLogin, totpAt } from './support/mfa.js';
import { PanelClient } from './support/panel-client.js';

/**
 * What one request costs, counted rather than timed, so the count holds on a busy machine and a
 * change that adds work to the hot path fails here before the benchmark would show it. The
 * numbers are pinned exactly: lower one when a change removes work, never raise one without
 * saying why in the change.
 */

/** Counts the statements the store runs (every query passes a Kysely plugin once it has run). */
class StatementCounter implements KyselyPlugin {
  count = 0;
  transformQuery({ node }: PluginTransformQueryArgs) {
    if (process.env.SHOW_SQL && (globalThis as Record<string, unknown>).measuring)
      console.log('SQL', JSON.stringify(node).slice(0, 200), new Error().stack);
    return node;
  }
  async transformResult({ result }: PluginTransformResultArgs) {
    this.count++;
    return result;
  }
}

interface Costs {
  statements: number;
  keyedHashes: number;
  passwordVerifications: number;
}

/** Counts the keyed hashes (HMAC) and argon2 verifications an environment makes. */
function costCounter(
  env: TestEnv,
  statements: StatementCounter,
): { measure(run: () => Promise<void>): Promise<Costs> } {
  const counts = { keyedHashes: 0, passwordVerifications: 0 };
  const { keys, passwords } = env.deps;
  const hash = keys.hash.bind(keys);
  keys.hash = (value: string) => {
    counts.keyedHashes++;
    return hash(value);
  };
  const verify = passwords.verify.bind(passwords);
  passwords.verify = (stored: string, password: string) => {
    counts.passwordVerifications++;
    return verify(stored, password);
  };
  return {
    async measure(run) {
      const before = { statements: statements.count, ...counts };
      await run();
      return {
        statements: statements.count - before.statements,
        keyedHashes: counts.keyedHashes - before.keyedHashes,
        passwordVerifications: counts.passwordVerifications - before.passwordVerifications,
      };
    },
  };
}

/** The hooks Fastify runs for a request's route, by stage (read from the route's context). */
function hooksOf(request: FastifyRequest): Record<string, number> {
  const contextKey = Object.getOwnPropertySymbols(request).find(
    (symbol) => symbol.description === 'fastify.context',
  );
  assert.ok(contextKey, "Fastify keeps the route's context on the request");
  const context = (request as unknown as Record<symbol, Record<string, unknown>>)[contextKey];
  const stages = [
    'onRequest',
    'preParsing',
    'preValidation',
    'preHandler',
    'preSerialization',
    'onSend',
    'onResponse',
  ];
  return Object.fromEntries(
    stages.map((stage) => {
      const hooks = context?.[stage];
      return [stage, Array.isArray(hooks) ? hooks.length : 0];
    }),
  );
}

/** The request objects of the route handlers that run while `run` does. */
async function handledRequests(run: () => Promise<void>): Promise<FastifyRequest[]> {
  const seen: FastifyRequest[] = [];
  const channel = diagnostics.tracingChannel<{ request: FastifyRequest }>('fastify.request.handler');
  const ignore = () => undefined;
  const subscribers = {
    start: (message: { request: FastifyRequest }) => {
      seen.push(message.request);
    },
    end: ignore,
    asyncStart: ignore,
    asyncEnd: ignore,
    error: ignore,
  };
  channel.subscribe(subscribers);
  try {
    await run();
  } finally {
    channel.unsubscribe(subscribers);
  }
  return seen;
}

for (const dialect of dialects()) {
  describe(`what one request costs (${dialect})`, () => {
    let env: TestEnv;
    let admin: TestUser;
    let owner: TestUser;
    let costs: ReturnType<typeof costCounter>;
    const statements = new StatementCounter();
    before(async () => {
      env = await createTestEnv({ dialect, plugins: [statements] });
      costs = costCounter(env, statements);
      admin = await createAdmin(env);
      owner = await createAccount(env, admin);
    });
    after(() => env.close());

    const validate = async (token: string, as: string) => {
      const shown = await env.request('GET', `/v2.0/tokens/${token}`, { token: as });
      assert.equal(shown.status, 200, shown.text);
    };

    test('a validation answered from the cache runs no statement and one keyed hash at most', async () => {
      // The first validation of each token reads the store: one statement for both tokens, or
      // one each, never more.
      const first = await costs.measure(() => validate(owner.token, admin.token));
      assert.ok(first.statements <= 2, `first validation: ${first.statements} statements`);
      // PostgreSQL: the cache answers only while its feed of other instances' writes is current.
      await env.deps.store.writeListener?.ready();
      const cached = await costs.measure(() => validate(owner.token, admin.token));
      assert.deepEqual(cached, { statements: 0, keyedHashes: 0, passwordVerifications: 0 });
      const validateV3 = async () => {
        const shown = await env.request('GET', '/v3/auth/tokens', {
          headers: { 'x-auth-token': admin.token, 'x-subject-token': owner.token },
        });
        assert.equal(shown.status, 200, shown.text);
      };
      // The first v3 answer for a remembered token reads its account's name once.
      const firstV3 = await costs.measure(validateV3);
      assert.ok(firstV3.statements <= 1, `first v3 validation: ${firstV3.statements} statements`);
      const v3 = await costs.measure(validateV3);
      assert.deepEqual(v3, { statements: 0, keyedHashes: 0, passwordVerifications: 0 });
    });

    test('a validation runs only the hooks every request needs', async () => {
      const [request] = await handledRequests(() => validate(owner.token, admin.token));
      assert.ok(request, 'the validation route ran');
      // onRequest: the hostile-input edge for headers and URL values, the stop-in-progress check
      // and the API's Accept check; no preValidation (the body edge is only on routes that take
      // a body); onSend: the stop's Connection: close, and the test harness's own
      // response-contract check; onResponse: metrics and the access line.
      assert.deepEqual(hooksOf(request), {
        onRequest: 3,
        preParsing: 0,
        preValidation: 0,
        preHandler: 0,
        preSerialization: 0,
        onSend: 2,
        onResponse: 1,
      });
    });

    test('a password login runs one argon2 verification and a bounded number of statements', async () => {
      const login = await costs.measure(async () => {
        const response = await passwordLogin(env, owner.username, owner.password);
        assert.equal(response.status, 200, response.text);
      });
      assert.equal(login.passwordVerifications, 1);
      assert.deepEqual(login.statements, LOGIN_STATEMENTS[dialect]);
    });

    test('the two-step OTP login runs fewer statements than it did (19)', async () => {
      const user = await createAccount(env, admin);
      const secret = await enableOtp(env, user);
      const otpLogin = async () => {
        const { sessionId } = await startMfaLogin(env, user);
        const response = await sendPasscode(env, sessionId, totpAt(secret, env.clock.now()));
        assert.equal(response.status, 200, response.text);
        // A code is accepted once: the next login uses the next one.
        env.clock.advance(30_000);
      };
      // The first MFA session of a minute also sweeps expired ones: measure a login after it.
      await otpLogin();
      const login = await costs.measure(otpLogin);
      assert.equal(login.passwordVerifications, 1);
      assert.equal(login.statements, OTP_LOGIN_STATEMENTS[dialect]);
    });

    test('a sign-in with a passkey alone runs no argon2 and fewer statements than it did (2 + 12)', async () => {
      // Passkeys are offered only at the public URL's name: an environment of its own.
      const origin = 'http://localhost';
      const at = { host: 'localhost', origin };
      const counted = new StatementCounter();
      const passkeyEnv = await createTestEnv({
        dialect,
        plugins: [counted],
        env: { LATCHKEY_PUBLIC_URL: origin },
      });
      try {
        const passkeyCosts = costCounter(passkeyEnv, counted);
        const user = await createAccount(passkeyEnv, await createAdmin(passkeyEnv));
        const authenticator = new SoftwareAuthenticator({ origin });
        const owner = new PanelClient(passkeyEnv);
        await owner.get('/sign-in', at);
        await owner.post('/sign-in', { username: user.username, password: user.password }, at);
        await owner.get('/profile/passkeys/new', at);
        const prompt = await owner.post('/profile/passkeys/new', { nickname: 'Laptop' }, at);
        const created = authenticator.create(
          optionsInPage<PublicKeyCredentialCreationOptionsJSON>(prompt.body),
        );
        const added = await owner.post('/profile/passkeys', { response: JSON.stringify(created) }, at);
        assert.equal(added.status, 303, added.body.slice(0, 300));
        const signIn = async () => {
          const browser = new PanelClient(passkeyEnv);
          let page = await browser.get('/sign-in', at);
          const start = await passkeyCosts.measure(async () => {
            page = await browser.post('/sign-in/with-passkey', {}, at);
            assert.equal(page.status, 200, page.body.slice(0, 300));
          });
          const assertion = authenticator.get(
            optionsInPage<PublicKeyCredentialRequestOptionsJSON>(page.body),
          );
          const answer = await passkeyCosts.measure(async () => {
            const signed = await browser.post(
              '/sign-in/with-passkey/verify',
              { response: JSON.stringify(assertion) },
              at,
            );
            assert.equal(signed.status, 303, signed.body.slice(0, 300));
          });
          return { start, answer };
        };
        await signIn();
        const { start, answer } = await signIn();
        const expected = PASSKEY_SIGN_IN_STATEMENTS[dialect];
        // One keyed hash of the challenge as it is stored, one as it is spent, one of the token.
        assert.deepEqual(start, { statements: expected?.start, keyedHashes: 1, passwordVerifications: 0 });
        assert.deepEqual(answer, { statements: expected?.answer, keyedHashes: 2, passwordVerifications: 0 });
      } finally {
        await passkeyEnv.close();
      }
    });
  });
}

/**
 * Statements of one password login without MFA, by store (11 before the policy read joined the
 * account; 8 before the per-source slot a success gives back was folded into the next take).
 */
const LOGIN_STATEMENTS: Record<string, number> = { sqlite: 7, postgres: 7 };
/**
 * Statements of both steps of an OTP login, by store (25 when this test was written, counted this
 * way; 18 before the give-backs were folded and the authenticators read with the session).
 */
const OTP_LOGIN_STATEMENTS: Record<string, number> = { sqlite: 15, postgres: 15 };
/**
 * Statements of a sign-in with a passkey alone, by store: the page with the options (the start
 * counted per address, the challenge) and the answer (2 and 12 when this test was written: the
 * credential, its owner, the user and the account's level were read apart; 9 before a per-source slot given back was folded into the next take).
 */
const PASSKEY_SIGN_IN_STATEMENTS: Record<string, { start: number; answer: number }> = {
  sqlite: { start: 2, answer: 8 },
  postgres: { start: 2, answer: 8 },
};
