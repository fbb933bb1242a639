import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import fc from 'fast-check';
import { sql } from 'kysely';
import type { App } from '../src/app.js';
import {
  createAccount,
  createAdmin,
  createTestEnv,
  createUserVia,
  dialects,
  PASSWORD,
  type TestEnv,
  type TestUser,
} from './support/harness.js';
import { IN_CI } from './support/tools.js';

/**
 * Property-based fuzzing of every route of the API (body, query, path parameters, headers):
 * whatever arrives, the answer is never a 5xx, every error is the contract's fault body, every
 * answer comes within 5 s, and nothing is stored that PostgreSQL would refuse. Cases per route:
 * LATCHKEY_TEST_FUZZ_RUNS, else 1000 in CI (CI=true) and 100 elsewhere.
 */
const RUNS = Number(process.env.LATCHKEY_TEST_FUZZ_RUNS ?? (IN_CI ? 1000 : 100));
const ANSWER_WITHIN_MS = 5000;

interface Route {
  method: string;
  url: string;
}

/** Every API route, read from the router itself, so a new route is fuzzed without a change here. */
function apiRoutes(app: App): Route[] {
  const routes: Route[] = [];
  const parts: string[] = [];
  for (const line of app.printRoutes({ commonPrefix: false }).split('\n')) {
    // The tree prints each node's part of the path (with its own slashes) under its parent.
    const match = /^([│├└─\s]*)(\S+) \(([A-Z, ]+)\)$/.exec(line);
    if (!match?.[2] || !match[3]) continue;
    const depth = Math.round([...(match[1] ?? '')].length / 4) - 1;
    parts.length = depth;
    parts.push(match[2]);
    const url = parts.join('');
    if (!/^\/(v2\.0\/|health$|metrics$)/.test(url)) continue;
    for (const method of match[3].split(', ')) if (method !== 'HEAD') routes.push({ method, url });
  }
  return routes;
}

interface Fixture {
  admin: TestUser;
  owner: TestUser;
  member: TestUser;
  ids: Record<'user' | 'token' | 'domain' | 'phone' | 'device', string[]>;
}

async function fixture(env: TestEnv): Promise<Fixture> {
  const admin = await createAdmin(env);
  const owner = await createAccount(env, admin);
  const member = await createUserVia(env, owner, 'member');
  const base = `/v2.0/users/${member.id}/RAX-AUTH/multi-factor`;
  const device = await env.request('POST', `${base}/otp-devices`, {
    token: member.token,
    body: { 'RAX-AUTH:otpDevice': { name: 'fuzz' } },
  });
  const phone = await env.request('POST', `${base}/mobile-phones`, {
    token: member.token,
    body: { 'RAX-AUTH:mobilePhone': { number: '+12015550199' } },
  });
  return {
    admin,
    owner,
    member,
    ids: {
      user: [admin.id, owner.id, member.id],
      token: [admin.token, owner.token, member.token],
      domain: [owner.domainId ?? '0'],
      phone: [(phone.body['RAX-AUTH:mobilePhone'] as { id: string }).id],
      device: [(device.body['RAX-AUTH:otpDevice'] as { id: string }).id],
    },
  };
}

const anyText = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 40 }),
  fc.string({ maxLength: 40 }),
  fc.constantFrom('', ' ', '\u0000', 'a\u0000b', '\ud800', '%00', '%', '..', '💥', 'x'.repeat(300)),
);
const hex32 = fc.stringMatching(/^[0-9a-f]{32}$/);

function segment(value: string): string {
  try {
    return encodeURIComponent(value);
  } catch {
    // A lone surrogate cannot be encoded as UTF-8: send the bytes of one instead.
    return '%ED%A0%80';
  }
}

function requestArbitrary(route: Route, fix: Fixture) {
  const idOf = (name: string) => {
    const kind = name.replace(/Id$/, '') as keyof Fixture['ids'];
    const real = fix.ids[kind] ?? [];
    return fc.oneof(
      { weight: 3, arbitrary: fc.constantFrom(...(real.length > 0 ? real : ['0'])) },
      { weight: 1, arbitrary: hex32 },
      { weight: 2, arbitrary: anyText },
      { weight: 1, arbitrary: fc.nat().map(String) },
    );
  };
  const paramNames = [...route.url.matchAll(/:(\w+)/g)].map((match) => match[1] ?? '');
  const params = fc.tuple(...paramNames.map(idOf));
  const realValue = fc.constantFrom(
    PASSWORD,
    fix.member.username,
    fix.owner.username,
    'OTP',
    'SMS',
    'REQUIRED',
    'OPTIONAL',
    'DEFAULT',
    '+12015550123',
    'PT30M',
    '5',
    '1234567',
    'SETUP-MFA',
    ...fix.ids.user,
    ...fix.ids.domain,
  );
  const leaf = fc.oneof(
    { weight: 3, arbitrary: realValue },
    { weight: 3, arbitrary: anyText },
    { weight: 1, arbitrary: fc.boolean() },
    { weight: 1, arbitrary: fc.integer() },
    { weight: 1, arbitrary: fc.constant(null) },
    { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 2 }) },
  );
  const shaped = (keys: string[]) =>
    fc.record(Object.fromEntries(keys.map((key) => [key, leaf])), { requiredKeys: [] });
  const body = fc.oneof(
    fc.constant(undefined),
    fc.jsonValue({ maxDepth: 3 }).map((value) => JSON.stringify(value)),
    fc.string({ unit: 'binary', maxLength: 60 }),
    fc
      .oneof(
        fc
          .record(
            {
              passwordCredentials: shaped(['username', 'password', 'tenantId']),
              'RAX-KSKEY:apiKeyCredentials': shaped(['username', 'apiKey']),
              token: shaped(['id']),
              'RAX-AUTH:passcodeCredentials': shaped(['passcode']),
              tenantId: leaf,
              tenantName: leaf,
              'RAX-AUTH:scope': leaf,
            },
            { requiredKeys: [] },
          )
          .map((auth) => ({ auth })),
        shaped([
          'username',
          'email',
          'enabled',
          'OS-KSADM:password',
          'RAX-AUTH:defaultRegion',
          'RAX-AUTH:domainId',
        ]).map((user) => ({ user })),
        shaped(['enabled', 'factorType', 'unlock', 'userMultiFactorEnforcementLevel']).map((value) => ({
          'RAX-AUTH:multiFactor': value,
        })),
        shaped(['numberOfCodes', 'validityDuration']).map((value) => ({ 'RAX-AUTH:bypassCodes': value })),
        shaped(['name']).map((value) => ({ 'RAX-AUTH:otpDevice': value })),
        shaped(['number']).map((value) => ({ 'RAX-AUTH:mobilePhone': value })),
        shaped(['code']).map((value) => ({ 'RAX-AUTH:verificationCode': value })),
        shaped(['username', 'password']).map((value) => ({ passwordCredentials: value })),
        shaped(['domainMultiFactorEnforcementLevel']).map((value) => ({
          'RAX-AUTH:multiFactorDomain': value,
        })),
      )
      .map((value) => JSON.stringify(value)),
  );
  const queryKey = fc.oneof(
    fc.constantFrom('name', 'email', 'userId', 'domainId', 'type', 'since', 'limit', 'belongsTo', 'dryRun'),
    fc.string({ maxLength: 10 }),
  );
  const queryValue = fc.oneof(realValue, anyText, fc.integer().map(String), hex32);
  const query = fc.array(fc.tuple(queryKey, queryValue), { maxLength: 4 });
  const headerText = fc.string({ unit: 'grapheme-ascii', maxLength: 60 });
  const headers = fc.record(
    {
      'x-auth-token': fc.oneof(
        { weight: 4, arbitrary: fc.constantFrom(...fix.ids.token) },
        { weight: 1, arbitrary: hex32 },
        { weight: 1, arbitrary: headerText },
      ),
      'x-sessionid': headerText,
      'content-type': fc.constantFrom(
        'application/json',
        'application/json; charset=utf-8',
        'text/plain',
        'application/xml',
        'multipart/form-data; boundary=x',
        'application/json; charset=latin1',
      ),
      accept: fc.constantFrom('application/json', '*/*', 'text/html', 'application/xml', ''),
    },
    { requiredKeys: [] },
  );
  const remoteAddress = fc.oneof(fc.ipV4(), fc.ipV6());
  return fc.record({ params, body, query, headers, remoteAddress });
}

type FuzzRequest = ReturnType<typeof requestArbitrary> extends fc.Arbitrary<infer T> ? T : never;

function urlOf(route: Route, request: FuzzRequest): string {
  let index = 0;
  const path = route.url.replace(/:(\w+)/g, () => segment(String(request.params[index++] ?? '')));
  const search = request.query.map(([key, value]) => `${segment(key)}=${segment(value)}`).join('&');
  return search === '' ? path : `${path}?${search}`;
}

/** Strings PostgreSQL would refuse (NUL) or could not store faithfully (lone surrogates). */
// biome-ignore lint/suspicious/noControlCharactersInRegex: finding NUL is its purpose
const UNSTORABLE = /\u0000|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

async function unstorableValues(env: TestEnv): Promise<string[]> {
  const tables =
    env.dialect === 'sqlite'
      ? await sql<{ name: string }>`select name from sqlite_master where type = 'table'`.execute(env.deps.db)
      : await sql<{
          name: string;
        }>`select table_name as name from information_schema.tables where table_schema = current_schema()`.execute(
          env.deps.db,
        );
  const found: string[] = [];
  for (const { name } of tables.rows) {
    const rows = await sql<Record<string, unknown>>`select * from ${sql.table(name)}`.execute(env.deps.db);
    for (const row of rows.rows) {
      for (const [column, value] of Object.entries(row)) {
        if (typeof value === 'string' && UNSTORABLE.test(value)) found.push(`${name}.${column}`);
      }
    }
  }
  return found;
}

/** Whether a fuzzed route left the fixture as it was (users, tokens, devices), so it can be reused. */
async function intact(env: TestEnv, fix: Fixture): Promise<boolean> {
  const base = `/v2.0/users/${fix.member.id}/RAX-AUTH/multi-factor`;
  const checks = await Promise.all([
    env.request('GET', `/v2.0/users/${fix.admin.id}`, { token: fix.admin.token }),
    env.request('GET', `/v2.0/users/${fix.owner.id}`, { token: fix.owner.token }),
    env.request('GET', `/v2.0/users/${fix.member.id}`, { token: fix.member.token }),
    env.request('GET', `${base}/otp-devices/${fix.ids.device[0]}`, { token: fix.admin.token }),
    env.request('GET', `${base}/mobile-phones/${fix.ids.phone[0]}`, { token: fix.admin.token }),
  ]);
  return checks.every((check) => check.status === 200);
}

/**
 * SQLite in the plain run, PostgreSQL in the run with LATCHKEY_TEST_DATABASE_URL: CI runs both,
 * and each dialect is fuzzed once.
 */
const fuzzedDialects = dialects().filter(
  (dialect) => dialect === (process.env.LATCHKEY_TEST_DATABASE_URL ? 'postgres' : 'sqlite'),
);

for (const dialect of fuzzedDialects) {
  describe(`fuzzing every route, ${RUNS} cases each (${dialect})`, () => {
    let env: TestEnv;
    before(async () => {
      env = await createTestEnv({ dialect });
    });
    after(() => env.close());

    test('the API has routes to fuzz', () => {
      assert.ok(apiRoutes(env.app).length >= 30, 'every route is found in the router');
    });

    const routeList = async () => apiRoutes(env.app);
    test('no 5xx, a fault body for every error, an answer within 5 s, nothing unstorable', async (t) => {
      let fix: Fixture | undefined;
      for (const route of await routeList()) {
        await t.test(`${route.method} ${route.url}`, async () => {
          if (!fix || !(await intact(env, fix))) fix = await fixture(env);
          await fc.assert(
            fc.asyncProperty(requestArbitrary(route, fix as Fixture), async (request) => {
              const started = performance.now();
              const response = await env.app.inject({
                method: route.method as 'GET',
                url: urlOf(route, request),
                headers: request.headers,
                remoteAddress: request.remoteAddress,
                ...(request.body === undefined ? {} : { payload: request.body }),
              });
              const elapsed = performance.now() - started;
              assert.ok(elapsed < ANSWER_WITHIN_MS, `answered in ${Math.round(elapsed)} ms`);
              assert.ok(response.statusCode < 500, `${response.statusCode} ${response.body}`);
              if (response.statusCode >= 400) {
                const body = JSON.parse(response.body) as Record<string, { code: unknown; message: unknown }>;
                const faults = Object.keys(body);
                assert.equal(faults.length, 1, response.body);
                const inner = body[faults[0] ?? ''];
                assert.equal(inner?.code, response.statusCode, response.body);
                assert.equal(typeof inner?.message, 'string', response.body);
              }
            }),
            { numRuns: RUNS, endOnFailure: true },
          );
          assert.deepEqual(await unstorableValues(env), [], 'nothing stored that PostgreSQL would refuse');
        });
      }
    });
  });
}
