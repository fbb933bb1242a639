import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { CONTROL_CHARACTERS_MESSAGE } from '../src/http/hostile-input.js';
import {
  createAccount,
  createTestEnv,
  dialects,
  type Response,
  type TestEnv,
  type TestUser,
} from './support/harness.js';

const NUL = '\u0000';

/** Keystone's error body: `{"error":{"code","title","message"}}`, never the v2.0 fault. */
function assertKeystoneError(response: Response, status: number, message?: string): void {
  assert.equal(response.status, status, response.text);
  assert.deepEqual(Object.keys(response.body), ['error'], response.text);
  const error = response.body.error as { code: unknown; title: unknown; message: unknown };
  assert.deepEqual(Object.keys(error).sort(), ['code', 'message', 'title'], response.text);
  assert.equal(error.code, status);
  assert.equal(typeof error.title, 'string');
  if (message !== undefined) assert.equal(error.message, message);
}

const passwordLogin = (user: Record<string, unknown>) => ({
  auth: { identity: { methods: ['password'], password: { user: { password: 'x', ...user } } } },
});

for (const dialect of dialects()) {
  describe(`hostile input on /v3 is refused at the edge, in Keystone's format (${dialect})`, () => {
    let env: TestEnv;
    let owner: TestUser;
    before(async () => {
      env = await createTestEnv({ dialect });
      owner = await createAccount(env);
    });
    after(() => env.close());

    const errorLines = () => env.logs.filter((line) => line.includes('"level":50')).length;

    test('regression: a NUL in the v3 user id, user name or domain name was a 500 on PostgreSQL', async () => {
      const before = errorLines();
      const bodies = [
        passwordLogin({ id: NUL }),
        passwordLogin({ id: `${owner.id}${NUL}` }),
        passwordLogin({ name: `${owner.username}${NUL}`, domain: { id: owner.domainId } }),
        passwordLogin({ name: owner.username, domain: { name: `x${NUL}` } }),
        passwordLogin({ name: owner.username, domain: { id: `1${NUL}` } }),
        passwordLogin({ name: owner.username, domain: { id: '\ud800' } }),
        passwordLogin({ id: owner.id, [`extra${NUL}`]: 1 }),
        {
          auth: {
            identity: { methods: ['token'], token: { id: `${owner.token}${NUL}` } },
          },
        },
        {
          auth: {
            identity: { methods: ['totp'], totp: { user: { id: owner.id, passcode: `12${NUL}456` } } },
          },
        },
      ];
      for (const body of bodies) {
        assertKeystoneError(
          await env.request('POST', '/v3/auth/tokens', { body }),
          400,
          CONTROL_CHARACTERS_MESSAGE,
        );
      }
      // Headers that name tokens and receipts, and the query.
      for (const [method, url, headers] of [
        ['GET', '/v3/auth/tokens', { 'x-subject-token': `a\tb`, 'x-auth-token': owner.token }],
        ['GET', '/v3/auth/tokens', { 'x-auth-token': `${owner.token}\u007f` }],
        ['DELETE', '/v3/auth/tokens', { 'x-subject-token': `a\u0001b`, 'x-auth-token': owner.token }],
        ['GET', `/v3/auth/tokens?nocatalog=${encodeURIComponent(NUL)}`, { 'x-auth-token': owner.token }],
        ['GET', '/v3?x=%01', {}],
        ['GET', `/?q=${encodeURIComponent(NUL)}`, {}],
      ] as const) {
        const response = await env.request(method, url, { headers: { ...headers } });
        assertKeystoneError(response, 400, CONTROL_CHARACTERS_MESSAGE);
      }
      const receipt = await env.request('POST', '/v3/auth/tokens', {
        headers: { 'openstack-auth-receipt': `r${'\u0002'}` },
        body: {
          auth: { identity: { methods: ['totp'], totp: { user: { id: owner.id, passcode: '123456' } } } },
        },
      });
      assertKeystoneError(receipt, 400, CONTROL_CHARACTERS_MESSAGE);
      assert.equal(errorLines(), before, 'no error (and no stack) in the log');
    });

    test('an over-long value in the URL is a 400 in Keystone format', async () => {
      const response = await env.request('GET', `/v3/auth/tokens?nocatalog=${'x'.repeat(2000)}`, {
        token: owner.token,
        headers: { 'x-subject-token': owner.token },
      });
      assertKeystoneError(response, 400);
    });

    test("parser errors on /v3 answer Keystone's error body, not the v2.0 fault", async () => {
      const cases: [string, string, Record<string, string>, string | undefined, number][] = [
        ['POST', '/v3/auth/tokens', { 'content-type': 'application/json' }, '{bad', 400],
        ['POST', '/v3/auth/tokens', { 'content-type': 'text/plain' }, 'auth', 415],
        ['POST', '/v3/auth/tokens', { 'content-type': 'application/xml' }, '<auth/>', 415],
        ['POST', '/v3/auth/tokens', { 'content-type': 'application/json' }, `"${'x'.repeat(70_000)}"`, 413],
        ['POST', '/v3/auth/tokens', { 'content-type': 'application/json' }, '{"__proto__":{"x":1}}', 400],
        // URLs the router cannot read: bad percent-encoding, an over-long segment.
        ['GET', '/v3/auth/%zz', {}, undefined, 400],
        ['GET', '/v3/auth/tokens%', {}, undefined, 400],
      ];
      for (const [method, url, headers, payload, status] of cases) {
        const response = await env.app.inject({
          method: method as 'GET',
          url,
          headers,
          ...(payload === undefined ? {} : { payload }),
        });
        const parsed = {
          status: response.statusCode,
          headers: response.headers,
          text: response.body,
          body: JSON.parse(response.body),
        } as Response;
        assertKeystoneError(parsed, status);
      }
    });
  });
}
