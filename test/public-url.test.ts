import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { ConfigError, loadConfig } from '../src/config/config.js';
import { createAccount, createTestEnv, dialects, type TestEnv, type TestUser } from './support/harness.js';

/**
 * LATCHKEY_PUBLIC_URL: where clients reach the service. Self links, the catalog, the `/` redirect
 * and the panel's origin check use it; without it they follow the request's Host, and forwarded
 * host headers count only from a trusted proxy.
 */
const EVIL = { 'x-forwarded-host': 'evil.example', 'x-forwarded-proto': 'https' };
const FORWARDED = { forwarded: 'host=evil.example;proto=https' };

interface V3Token {
  token: { catalog: { type: string; endpoints: { url: string }[] }[] };
}

async function v3Login(env: TestEnv, user: TestUser, headers: Record<string, string>) {
  return env.request('POST', '/v3/auth/tokens', {
    headers,
    body: {
      auth: {
        identity: {
          methods: ['password'],
          password: {
            user: {
              name: user.username,
              domain: { id: user.domainId ?? 'default' },
              password: user.password,
            },
          },
        },
      },
    },
  });
}

function identityUrls(body: unknown): string[] {
  const catalog = (body as V3Token).token.catalog;
  return catalog
    .filter((service) => service.type === 'identity')
    .flatMap((service) => service.endpoints.map((endpoint) => endpoint.url));
}

describe('LATCHKEY_PUBLIC_URL is validated at start', () => {
  const publicUrl = (value: string) => loadConfig({ LATCHKEY_PUBLIC_URL: value }).publicUrl;

  test('an origin is kept as one, without a trailing slash or a default port', () => {
    assert.equal(publicUrl('https://id.example.com/'), 'https://id.example.com');
    assert.equal(publicUrl('https://id.example.com:443'), 'https://id.example.com');
    assert.equal(publicUrl('http://localhost:8080'), 'http://localhost:8080');
    assert.equal(loadConfig({}).publicUrl, undefined, 'unset: from each request');
  });

  test('anything that is not an http(s) origin stops the start, naming the setting', () => {
    for (const bad of [
      'id.example.com',
      '/v3',
      'ftp://id.example.com',
      'https://id.example.com/identity',
      'https://id.example.com/?x=1',
      'https://user@id.example.com',
      'https://id.example.com/#top',
    ]) {
      assert.throws(
        () => publicUrl(bad),
        (error: unknown) =>
          error instanceof ConfigError &&
          error.variable === 'LATCHKEY_PUBLIC_URL' &&
          error.message.startsWith('LATCHKEY_PUBLIC_URL: '),
        bad,
      );
    }
  });
});

for (const dialect of dialects()) {
  describe(`without LATCHKEY_PUBLIC_URL, forwarded host headers from an untrusted client (${dialect})`, () => {
    let env: TestEnv;
    let owner: TestUser;
    before(async () => {
      env = await createTestEnv({ dialect });
      // An account's user: its token is scoped to the account's project, so it carries a catalog.
      owner = await createAccount(env);
    });
    after(() => env.close());

    test('are ignored by the / redirect, the version documents and the catalog', async () => {
      for (const headers of [EVIL, FORWARDED]) {
        const root = await env.request('GET', '/', { headers });
        assert.equal(root.status, 300);
        assert.equal(root.headers.location, 'http://localhost:80/v3/');
        assert.doesNotMatch(root.text, /evil\.example/);
        assert.doesNotMatch((await env.request('GET', '/v3', { headers })).text, /evil\.example/);
        assert.doesNotMatch((await env.request('GET', '/v2.0', { headers })).text, /evil\.example/);
        const login = await v3Login(env, owner, headers);
        assert.equal(login.status, 201, login.text);
        assert.deepEqual([...new Set(identityUrls(login.body))], ['http://localhost:80/v3']);
      }
    });
  });

  describe(`with LATCHKEY_PUBLIC_URL, behind a trusted proxy (${dialect})`, () => {
    let env: TestEnv;
    let owner: TestUser;
    before(async () => {
      env = await createTestEnv({
        dialect,
        env: { LATCHKEY_PUBLIC_URL: 'https://id.example.com/', LATCHKEY_TRUSTED_PROXIES: '127.0.0.1' },
      });
      // An account's user: its token is scoped to the account's project, so it carries a catalog.
      owner = await createAccount(env);
    });
    after(() => env.close());

    test('regression: a client X-Forwarded-Host passed on by the proxy made / and the catalog point to it; now they point to the public URL', async () => {
      for (const headers of [EVIL, FORWARDED, { host: 'evil.example' }]) {
        const root = await env.request('GET', '/', { headers });
        assert.equal(root.status, 300);
        assert.equal(root.headers.location, 'https://id.example.com/v3/');
        const hrefs = (
          root.body.versions as unknown as { values: { links: { href: string }[] }[] }
        ).values.flatMap((version) => version.links.map((link) => link.href));
        assert.deepEqual(hrefs, ['https://id.example.com/v3/', 'https://id.example.com/v2.0/']);
        const login = await v3Login(env, owner, headers);
        assert.equal(login.status, 201, login.text);
        assert.deepEqual([...new Set(identityUrls(login.body))], ['https://id.example.com/v3']);
        const refused = await env.request('GET', '/v3/auth/tokens', {
          headers: { ...headers, 'x-auth-token': 'x' },
        });
        assert.equal(refused.status, 401);
        assert.equal(refused.headers['www-authenticate'], 'Keystone uri="https://id.example.com/v3"');
      }
    });

    test("the panel's origin check compares with the public URL, not the request's Host", async () => {
      const host = 'internal.example:8080';
      const page = await env.app.inject({
        method: 'GET',
        url: '/sign-in',
        headers: { host, accept: 'text/html' },
      });
      const csrf = /name="_csrf" value="([^"]+)"/.exec(page.body)?.[1] ?? '';
      assert.ok(csrf, 'the sign-in form carries a CSRF token');
      const cookie = [page.headers['set-cookie'] ?? []]
        .flat()
        .map((line) => line.split(';')[0])
        .join('; ');
      const post = (origin: string) =>
        env.app.inject({
          method: 'POST',
          url: '/sign-in',
          headers: {
            origin,
            host,
            cookie,
            accept: 'text/html',
            'content-type': 'application/x-www-form-urlencoded',
          },
          payload: `_csrf=${encodeURIComponent(csrf)}&username=nobody&password=Wrongpass1`,
        });
      const refusals = () =>
        env.logs.filter((line) => line.includes('cross-origin form post refused')).length;
      const ownHost = await post(`http://${host}`);
      assert.equal(ownHost.statusCode, 403, 'the Host users do not reach is not the panel origin');
      assert.equal(refusals(), 1);
      assert.equal((await post('https://evil.example')).statusCode, 403);
      assert.equal(refusals(), 2);
      const fromPublic = await post('https://id.example.com');
      assert.equal(refusals(), 2, 'a form posted from the public origin passes the origin check');
      assert.notEqual(fromPublic.statusCode, 403, fromPublic.body);
      assert.match(fromPublic.body, /Wrong username or password|incorrect|not valid/i);
    });

    test('cookies are Secure when the public URL is https', async () => {
      const page = await env.app.inject({ method: 'GET', url: '/sign-in', headers: { accept: 'text/html' } });
      assert.equal(page.statusCode, 200);
      const cookies = [page.headers['set-cookie'] ?? []].flat();
      assert.ok(cookies.length > 0, 'the sign-in page sets its CSRF cookie');
      for (const cookie of cookies) assert.match(cookie, /;\s*Secure/i, cookie);
    });
  });
}
