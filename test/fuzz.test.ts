import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import fc from 'fast-check';
import { sql } from 'kysely';
import type { HttpServer } from '../src/http/server-instance.js';
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
import { givePasskey } from './support/mfa.js';
import { PanelClient } from './support/panel-client.js';
import { IN_CI } from './support/tools.js';

/**
 * Property-based fuzzing of every route of every surface (the v2.0 API, health and metrics;
 * Identity v3 and discovery; every page and form of the panel): body, query, path parameters and
 * headers. Whatever arrives, the answer is never a 5xx, every error is in the surface's own
 * format (the v2.0 fault body, Keystone's error body, the panel's HTML page), every answer comes
 * within 5 s, and nothing is stored that PostgreSQL would refuse. Cases per route:
 * LATCHKEY_TEST_FUZZ_RUNS, else 1000 in CI (CI=true) and 100 elsewhere. One app per dialect,
 * driven through inject(): a case costs one request, no socket.
 */
const RUNS = Number(process.env.LATCHKEY_TEST_FUZZ_RUNS ?? (IN_CI ? 1000 : 100));
const ANSWER_WITHIN_MS = 5000;
/**
 * A surface's test runs the cases of all its routes (the panel has some 60), so it may take longer
 * than `npm test`'s per-test timeout; each route's own subtest still has that timeout.
 */
const SURFACE = { timeout: 45 * 60_000 };

interface Route {
  method: string;
  url: string;
}

/**
 * The routes whose path matches, read from the router itself, so a new route is fuzzed without a
 * change here. Routes with a constraint (the panel's `/` for browsers) are printed with it.
 */
function routesOf(app: HttpServer, pathPattern: RegExp, constrained = false): Route[] {
  const routes: Route[] = [];
  const parts: string[] = [];
  for (const line of app.printRoutes({ commonPrefix: false }).split('\n')) {
    // The tree prints each node's part of the path (with its own slashes) under its parent.
    const match = /^([│├└─\s]*)(\S+) \(([A-Z, ]+)\)( \{.*\})?$/.exec(line);
    if (!match?.[2] || !match[3]) continue;
    const depth = Math.round([...(match[1] ?? '')].length / 4) - 1;
    parts.length = depth;
    parts.push(match[2]);
    const url = parts.join('');
    if (!pathPattern.test(url) || Boolean(match[4]) !== constrained) continue;
    for (const method of match[3].split(', ')) if (method !== 'HEAD') routes.push({ method, url });
  }
  return routes;
}

const apiRoutes = (app: HttpServer) => routesOf(app, /^\/(v2\.0\/|health$|metrics$)/);
const v3Routes = (app: HttpServer) => routesOf(app, /^\/(v3(\/|$)|$)/);
const panelRoutes = (app: HttpServer) => [
  ...routesOf(app, /^\/$/, true),
  ...routesOf(app, /^\/(admin|sign-in|sign-out|setup|profile)(\/|$)/),
];

interface Fixture {
  admin: TestUser;
  owner: TestUser;
  member: TestUser;
  ids: Record<'user' | 'token' | 'domain' | 'phone' | 'device' | 'passkey', string[]>;
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
  // A passkey is registered by a browser ceremony; the fuzzer needs only its row.
  const passkeyId = await givePasskey(env, member, 'fuzz');
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
      passkey: [passkeyId],
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
        shaped(['domainMultiFactorEnforcementLevel', 'latchkey:passkeysOnly']).map((value) => ({
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

// Identity v3: the same credentials in Keystone's shapes, with its headers.
function v3RequestArbitrary(fix: Fixture) {
  const text = fc.oneof(
    { weight: 3, arbitrary: fc.constantFrom(fix.member.username, fix.owner.username, PASSWORD, '123456') },
    { weight: 2, arbitrary: anyText },
    { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 1 }) },
  );
  const idText = fc.oneof(
    { weight: 3, arbitrary: fc.constantFrom(...fix.ids.user, ...fix.ids.domain) },
    { weight: 1, arbitrary: hex32 },
    { weight: 2, arbitrary: anyText },
  );
  const domain = fc.record({ id: idText, name: text }, { requiredKeys: [] });
  const user = fc.record(
    { id: idText, name: text, domain, password: text, passcode: text },
    { requiredKeys: [] },
  );
  const methods = fc.oneof(
    fc.subarray(['password', 'totp', 'token', 'application_credential']),
    fc.array(anyText, { maxLength: 3 }),
    fc.jsonValue({ maxDepth: 1 }),
  );
  const identity = fc.record(
    {
      methods,
      password: fc.record({ user }, { requiredKeys: [] }),
      totp: fc.record({ user }, { requiredKeys: [] }),
      token: fc.record({ id: fc.oneof(fc.constantFrom(...fix.ids.token), anyText) }, { requiredKeys: [] }),
    },
    { requiredKeys: [] },
  );
  const scope = fc.oneof(
    fc.record({ project: fc.record({ id: idText, name: text, domain }, { requiredKeys: [] }) }),
    fc.record({ domain }),
    fc.constant({ system: { all: true } }),
    fc.constant({ 'OS-TRUST:trust': { id: 'x' } }),
    fc.jsonValue({ maxDepth: 2 }),
  );
  const body = fc.oneof(
    { weight: 1, arbitrary: fc.constant(undefined) },
    { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 3 }).map((value) => JSON.stringify(value)) },
    { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 60 }) },
    {
      weight: 5,
      arbitrary: fc.record({ identity, scope }, { requiredKeys: [] }).map((auth) => JSON.stringify({ auth })),
    },
  );
  const headerText = fc.string({ unit: 'grapheme-ascii', maxLength: 60 });
  const token = fc.oneof(
    { weight: 4, arbitrary: fc.constantFrom(...fix.ids.token) },
    { weight: 1, arbitrary: hex32 },
    { weight: 1, arbitrary: headerText },
  );
  const headers = fc.record(
    {
      'x-auth-token': token,
      'x-subject-token': token,
      'openstack-auth-receipt': fc.oneof(hex32, headerText),
      'content-type': fc.constantFrom(
        'application/json',
        'application/json; charset=utf-8',
        'text/plain',
        'application/xml',
        'application/x-www-form-urlencoded',
      ),
      accept: fc.constantFrom('application/json', '*/*', 'application/xml', ''),
    },
    { requiredKeys: [] },
  );
  const query = fc.array(
    fc.tuple(fc.oneof(fc.constantFrom('nocatalog', 'allow_expired'), fc.string({ maxLength: 10 })), anyText),
    { maxLength: 3 },
  );
  return fc.record({ body, headers, query, remoteAddress: fc.oneof(fc.ipV4(), fc.ipV6()) });
}

function withQuery(path: string, query: [string, string][]): string {
  const search = query.map(([key, value]) => `${segment(key)}=${segment(value)}`).join('&');
  return search === '' ? path : `${path}?${search}`;
}

/** Keystone's error body: one `error` with the status as code, its title and a message. */
function assertKeystoneError(status: number, text: string): void {
  const body = JSON.parse(text) as { error?: { code?: unknown; title?: unknown; message?: unknown } };
  assert.deepEqual(Object.keys(body), ['error'], text);
  assert.equal(body.error?.code, status, text);
  assert.equal(typeof body.error?.title, 'string', text);
  assert.equal(typeof body.error?.message, 'string', text);
}

// The panel: a signed-in client per kind of page, with a valid CSRF token on most posts.
interface PanelFixture {
  admin: PanelClient;
  member: PanelClient;
  /** A user whose account requires MFA and who has none: the forced setup pages. */
  setup: PanelClient;
  anonymous: PanelClient;
  setupUser: TestUser;
}

async function panelFixture(env: TestEnv, fix: Fixture): Promise<PanelFixture> {
  const strictOwner = await createAccount(env, fix.admin);
  const setupUser = await createUserVia(env, strictOwner, 'setup');
  const level = await env.request('PUT', `/v2.0/RAX-AUTH/domains/${strictOwner.domainId}/multi-factor`, {
    token: fix.admin.token,
    body: { 'RAX-AUTH:multiFactorDomain': { domainMultiFactorEnforcementLevel: 'REQUIRED' } },
  });
  assert.equal(level.status, 204, level.text);
  const anonymous = new PanelClient(env);
  await anonymous.get('/sign-in');
  return {
    admin: await PanelClient.signedIn(env, fix.admin),
    member: await PanelClient.signedIn(env, fix.member),
    setup: await PanelClient.signedIn(env, setupUser, '127.0.0.1', '/setup'),
    anonymous,
    setupUser,
  };
}

function panelClientFor(route: Route, panel: PanelFixture): PanelClient {
  if (route.url.startsWith('/admin')) return panel.admin;
  if (route.url.startsWith('/setup')) return panel.setup;
  if (route.url.startsWith('/profile')) return panel.member;
  return panel.anonymous;
}

const PANEL_FIELDS = [
  'nickname',
  'response',
  'username',
  'password',
  'passcode',
  'code',
  'pin',
  'name',
  'number',
  'country',
  'factor',
  'level',
  'confirmed',
  'count',
  'makeDefault',
  'current',
  'confirm',
  'email',
  'role',
  'enabled',
];

function panelRequestArbitrary(route: Route, fix: Fixture) {
  const real = fc.constantFrom(
    fix.member.username,
    PASSWORD,
    'OTP',
    'SMS',
    'REQUIRED',
    'OPTIONAL',
    'yes',
    'US',
    '2015550123',
    '5',
    '123456',
    'identity:default',
    'identity:user-manage',
    'identity:admin',
    ...fix.ids.user,
    ...fix.ids.domain,
  );
  const value = fc.oneof({ weight: 2, arbitrary: real }, { weight: 2, arbitrary: anyText });
  const idOf = (name: string) => {
    const ids: Record<string, string[]> = {
      domainId: fix.ids.domain,
      userId: fix.ids.user,
      // One flow serves every kind of device: the id is a phone's on the SMS routes.
      deviceId: route.url.includes('/sms/') ? fix.ids.phone : fix.ids.device,
      passkeyId: fix.ids.passkey,
    };
    return fc.oneof(
      { weight: 3, arbitrary: fc.constantFrom(...(ids[name] ?? ['0'])) },
      { weight: 1, arbitrary: hex32 },
      { weight: 2, arbitrary: anyText },
    );
  };
  const paramNames = [...route.url.matchAll(/:(\w+)/g)].map((match) => match[1] ?? '');
  const params = fc.tuple(...paramNames.map(idOf));
  const fields = fc.array(
    fc.tuple(fc.oneof(fc.constantFrom(...PANEL_FIELDS), fc.string({ maxLength: 8 })), value),
    {
      maxLength: 5,
    },
  );
  // Undefined: the client's valid token.
  const csrf = fc.oneof(
    { weight: 18, arbitrary: fc.constant<string | undefined>(undefined) },
    { weight: 1, arbitrary: fc.constant('') },
    { weight: 1, arbitrary: anyText },
  );
  const body = fc.oneof(
    { weight: 15, arbitrary: fc.record({ fields, csrf }) },
    { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 60 }) },
  );
  const query = fc.array(
    fc.tuple(
      fc.oneof(fc.constantFrom('q', 'to', 'type', 'since', 'user', 'page'), fc.string({ maxLength: 8 })),
      value,
    ),
    { maxLength: 3 },
  );
  // Mostly what a browser on the panel's own page sends, so most posts reach their handlers.
  const mostly = <T>(usual: T, ...others: T[]) =>
    fc.oneof(
      { weight: 12, arbitrary: fc.constant(usual) },
      { weight: 1, arbitrary: fc.constantFrom(...others) },
    );
  const headers = fc.record({
    'content-type': mostly(
      'application/x-www-form-urlencoded',
      'application/x-www-form-urlencoded; charset=utf-8',
      'application/json',
      'text/plain',
      'multipart/form-data; boundary=x',
    ),
    origin: mostly('http://localhost:80', 'http://evil.example', 'null'),
    'sec-fetch-site': mostly('same-origin', 'cross-site', 'none'),
  });
  return fc.record({ params, body, query, headers, remoteAddress: fc.oneof(fc.ipV4(), fc.ipV6()) });
}

type PanelFuzzRequest = ReturnType<typeof panelRequestArbitrary> extends fc.Arbitrary<infer T> ? T : never;

function panelBody(client: PanelClient, request: PanelFuzzRequest): string {
  if (typeof request.body === 'string') return request.body;
  const form = new URLSearchParams();
  form.append('_csrf', request.body.csrf ?? client.csrfToken);
  for (const [key, value] of request.body.fields) form.append(key, value);
  return form.toString();
}

/** Whether each panel client still has the session its pages need (a fuzzed post may end one). */
async function panelIntact(panel: PanelFixture): Promise<boolean> {
  const [admin, member, setup] = await Promise.all([
    panel.admin.get('/admin/accounts'),
    panel.member.get('/profile'),
    panel.setup.get('/setup'),
  ]);
  return admin.status === 200 && member.status === 200 && setup.status === 200;
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

    test('Identity v3 and the panel have routes to fuzz', () => {
      assert.ok(
        v3Routes(env.app).length >= 4,
        v3Routes(env.app)
          .map((route) => route.url)
          .join(),
      );
      assert.ok(panelRoutes(env.app).length >= 40, 'every page and form is found in the router');
    });

    const routeList = async () => apiRoutes(env.app);
    test(
      'no 5xx, a fault body for every error, an answer within 5 s, nothing unstorable',
      SURFACE,
      async (t) => {
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
                  const body = JSON.parse(response.body) as Record<
                    string,
                    { code: unknown; message: unknown }
                  >;
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
      },
    );

    test(
      "Identity v3: no 5xx, Keystone's error body for every error, an answer within 5 s",
      SURFACE,
      async (t) => {
        let fix: Fixture | undefined;
        for (const route of v3Routes(env.app)) {
          await t.test(`${route.method} ${route.url}`, async () => {
            if (!fix || !(await intact(env, fix))) fix = await fixture(env);
            await fc.assert(
              fc.asyncProperty(v3RequestArbitrary(fix as Fixture), async (request) => {
                const started = performance.now();
                const response = await env.app.inject({
                  method: route.method as 'GET',
                  url: withQuery(route.url, request.query),
                  headers: request.headers,
                  remoteAddress: request.remoteAddress,
                  ...(request.body === undefined ? {} : { payload: request.body }),
                });
                const elapsed = performance.now() - started;
                assert.ok(elapsed < ANSWER_WITHIN_MS, `answered in ${Math.round(elapsed)} ms`);
                assert.ok(response.statusCode < 500, `${response.statusCode} ${response.body}`);
                // A 401 with an auth receipt is the MFA challenge, not an error.
                if (response.statusCode >= 400 && response.headers['openstack-auth-receipt'] === undefined)
                  assertKeystoneError(response.statusCode, response.body);
              }),
              { numRuns: RUNS, endOnFailure: true },
            );
            assert.deepEqual(await unstorableValues(env), [], 'nothing stored that PostgreSQL would refuse');
          });
        }
      },
    );

    test('the panel: no 5xx, an HTML page for every error, an answer within 5 s', SURFACE, async (t) => {
      let fix: Fixture | undefined;
      let panel: PanelFixture | undefined;
      for (const route of panelRoutes(env.app)) {
        await t.test(`${route.method} ${route.url}`, async () => {
          if (!fix || !panel || !(await intact(env, fix)) || !(await panelIntact(panel))) {
            fix = await fixture(env);
            panel = await panelFixture(env, fix);
          }
          const client = panelClientFor(route, panel);
          await fc.assert(
            fc.asyncProperty(panelRequestArbitrary(route, fix), async (request) => {
              let index = 0;
              const path = route.url.replace(/:(\w+)/g, () => segment(String(request.params[index++] ?? '')));
              const started = performance.now();
              const response =
                route.method === 'POST'
                  ? await client.post(
                      withQuery(path, request.query),
                      panelBody(client, request),
                      request.headers,
                      {
                        raw: true,
                        remoteAddress: request.remoteAddress,
                      },
                    )
                  : await client.get(withQuery(path, request.query), {}, request.remoteAddress);
              const elapsed = performance.now() - started;
              assert.ok(elapsed < ANSWER_WITHIN_MS, `answered in ${Math.round(elapsed)} ms`);
              assert.ok(response.status < 500, `${response.status} ${response.body.slice(0, 2000)}`);
              if (response.status >= 400) {
                assert.match(
                  String(response.headers['content-type']),
                  /^text\/html/,
                  response.body.slice(0, 500),
                );
                assert.match(response.body, /^<!doctype html>/, response.body.slice(0, 500));
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
