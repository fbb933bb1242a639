import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createAccount, createTestEnv, type TestEnv, type TestUser } from './support/harness.js';

const BROWSER_ACCEPT = 'text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8';

/** Cookies a response sets, as name → the whole Set-Cookie line. */
function setCookies(headers: Record<string, unknown>): Map<string, string> {
  const raw = headers['set-cookie'];
  const lines = raw === undefined ? [] : Array.isArray(raw) ? (raw as string[]) : [String(raw)];
  return new Map(lines.map((line) => [line.slice(0, line.indexOf('=')), line]));
}

function cookieHeader(cookies: Map<string, string>): string {
  return [...cookies.values()].map((line) => line.split(';')[0]).join('; ');
}

/** A browser-like visit to the sign-in form: its cookies and CSRF token. */
async function openSignIn(env: TestEnv, headers: Record<string, string> = {}) {
  const page = await env.app.inject({
    method: 'GET',
    url: '/sign-in',
    headers: { accept: BROWSER_ACCEPT, ...headers },
  });
  const token = /name="_csrf" value="([^"]+)"/.exec(page.body)?.[1];
  assert.ok(token, 'the form carries a CSRF token');
  return { page, cookies: setCookies(page.headers), token };
}

async function postSignIn(
  env: TestEnv,
  user: TestUser,
  form: { cookies: Map<string, string>; token: string },
  headers: Record<string, string> = {},
) {
  return env.app.inject({
    method: 'POST',
    url: '/sign-in',
    headers: {
      'content-type': 'application/x-www-form-urlencoded',
      cookie: cookieHeader(form.cookies),
      origin: 'http://localhost:80',
      host: 'localhost:80',
      ...headers,
    },
    payload: new URLSearchParams({
      _csrf: form.token,
      username: user.username,
      password: user.password,
    }).toString(),
  });
}

async function loginEvents(env: TestEnv, user: TestUser): Promise<number> {
  const rows = await env.deps.db
    .selectFrom('security_events')
    .select('id')
    .where('user_id', '=', user.id)
    .where('type', '=', 'login.succeeded')
    .execute();
  return rows.length;
}

describe('control panel over HTTP', () => {
  let env: TestEnv;
  let user: TestUser;
  before(async () => {
    env = await createTestEnv();
    user = await createAccount(env);
  });
  after(() => env.close());

  test('a browser asking for an unknown page gets an HTML 404; API clients keep the JSON fault', async () => {
    const html = await env.app.inject({
      method: 'GET',
      url: '/no/such/page',
      headers: { accept: BROWSER_ACCEPT },
    });
    assert.equal(html.statusCode, 404);
    assert.match(String(html.headers['content-type']), /^text\/html/);
    assert.match(html.body, /<h1>Page not found<\/h1>/);
    assert.match(String(html.headers['content-security-policy']), /default-src 'self'/);
    for (const [url, accept] of [
      ['/no/such/page', undefined],
      ['/no/such/page', 'application/json'],
      ['/v2.0/nope', BROWSER_ACCEPT],
    ] as const) {
      const json = await env.app.inject({ method: 'GET', url, headers: accept ? { accept } : {} });
      assert.equal(json.statusCode, 404);
      assert.deepEqual(JSON.parse(json.body), {
        itemNotFound: { code: 404, message: 'Resource not found.' },
      });
    }
    const wrongMethod = await env.app.inject({
      method: 'POST',
      url: '/health',
      headers: { accept: BROWSER_ACCEPT },
    });
    assert.equal(wrongMethod.statusCode, 405);
    assert.match(String(wrongMethod.headers['content-type']), /json/);
  });

  test('pages carry a strict CSP, no framing, a referrer policy and no-store', async () => {
    const { page } = await openSignIn(env);
    const csp = String(page.headers['content-security-policy']);
    for (const directive of [
      "default-src 'self'",
      "script-src 'self'",
      "img-src 'self' data:",
      "frame-ancestors 'none'",
      "form-action 'self'",
      "object-src 'none'",
    ])
      assert.ok(csp.includes(directive), `${directive} in ${csp}`);
    assert.ok(!csp.includes('unsafe-inline') && !csp.includes('unsafe-eval'));
    assert.equal(page.headers['x-frame-options'], 'DENY');
    assert.equal(page.headers['referrer-policy'], 'same-origin');
    assert.equal(page.headers['cache-control'], 'no-store');
    assert.equal(page.headers['x-content-type-options'], 'nosniff');
    // A window we open cannot reach back into ours, nor another site embed our files.
    assert.equal(page.headers['cross-origin-opener-policy'], 'same-origin');
    assert.equal(page.headers['cross-origin-resource-policy'], 'same-origin');
    assert.equal(page.headers['strict-transport-security'], undefined, "HSTS is the TLS terminator's");
    // No inline script anywhere in the page: only our own file.
    assert.deepEqual(page.body.match(/<script[^>]*>/g), ['<script src="/assets/panel.js" defer>']);
  });

  test('the session cookie is httpOnly and SameSite=Lax, and holds a token the API accepts', async () => {
    const form = await openSignIn(env);
    const response = await postSignIn(env, user, form);
    assert.equal(response.statusCode, 303);
    assert.equal(response.headers.location, '/profile');
    const session = setCookies(response.headers).get('lk_session') ?? '';
    assert.match(session, /HttpOnly/);
    assert.match(session, /SameSite=Lax/);
    assert.doesNotMatch(session, /Secure/);
    const tokenId = /^lk_session=([0-9a-f]{32});/.exec(session)?.[1];
    assert.ok(tokenId);
    const validated = await env.request('GET', `/v2.0/tokens/${tokenId}`, { token: tokenId });
    assert.equal(validated.status, 200);
  });

  test('behind a trusted TLS proxy the cookies are Secure', async () => {
    const proxied = await createTestEnv({ env: { LATCHKEY_TRUSTED_PROXIES: '127.0.0.1' } });
    try {
      const owner = await createAccount(proxied);
      const headers = { 'x-forwarded-proto': 'https' };
      const form = await openSignIn(proxied, headers);
      assert.match(form.cookies.get('lk_csrf') ?? '', /Secure/);
      const response = await postSignIn(proxied, owner, form, { ...headers, origin: 'https://localhost:80' });
      assert.equal(response.statusCode, 303);
      assert.match(setCookies(response.headers).get('lk_session') ?? '', /; Secure/);
    } finally {
      await proxied.close();
    }
  });

  test('a form post without the CSRF token, or from another origin, is refused and signs nobody in', async () => {
    const before = await loginEvents(env, user);
    const form = await openSignIn(env);
    const noToken = await postSignIn(env, user, { ...form, token: '' });
    assert.equal(noToken.statusCode, 403);
    assert.match(noToken.body, /This form has expired/);
    const forged = await postSignIn(env, user, { ...form, token: `${form.token}x` });
    assert.equal(forged.statusCode, 403);
    const otherOrigin = await postSignIn(env, user, form, { origin: 'http://evil.example' });
    assert.equal(otherOrigin.statusCode, 403);
    const crossSite = await postSignIn(env, user, form, { 'sec-fetch-site': 'cross-site' });
    assert.equal(crossSite.statusCode, 403);
    for (const response of [noToken, forged, otherOrigin, crossSite])
      assert.equal(setCookies(response.headers).has('lk_session'), false);
    assert.equal(await loginEvents(env, user), before);
  });

  test('a tampered pending sign-in cookie starts the sign-in again', async () => {
    const response = await env.app.inject({
      method: 'GET',
      url: '/sign-in/passcode',
      headers: { accept: BROWSER_ACCEPT, cookie: 'lk_pending=v1:1:AAAA:BBBB' },
    });
    assert.equal(response.statusCode, 303);
    assert.equal(response.headers.location, '/sign-in');
  });

  test('the assets are served from here, and pages need a session', async () => {
    for (const asset of ['/assets/panel.css', '/assets/panel.js', '/assets/favicon.svg']) {
      const response = await env.app.inject({ method: 'GET', url: asset });
      assert.equal(response.statusCode, 200, asset);
    }
    for (const url of ['/profile', '/setup', '/profile/bypass-codes', '/']) {
      const response = await env.app.inject({ method: 'GET', url, headers: { accept: BROWSER_ACCEPT } });
      assert.equal(response.statusCode, 303, url);
      assert.equal(response.headers.location, '/sign-in', url);
    }
  });
});
