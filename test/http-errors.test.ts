import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Messages } from '../src/core/errors.js';
import { BODY_LIMIT_BYTES, buildApp } from '../src/server/app.js';
import { migrations } from '../src/store/migrations/index.js';
import { accessOf, apiKeyLogin, apiKeyPath, assertFault, tokenOf } from './support/api.js';
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

/** A JSON body of exactly `bytes` bytes. */
function bodyOfSize(bytes: number): string {
  const frame = JSON.stringify({ auth: { pad: '' } });
  return JSON.stringify({ auth: { pad: 'x'.repeat(bytes - frame.length) } });
}

for (const dialect of dialects()) {
  describe(`HTTP errors (${dialect})`, () => {
    let env: TestEnv;
    let owner: TestUser;
    before(async () => {
      env = await createTestEnv({ dialect });
      owner = await createAccount(env);
    });
    after(() => env.close());

    test('an unknown route is 404 itemNotFound', async () => {
      for (const url of ['/nope', '/v2.1', '/v2.0/users/a/b/c/d', '/v4/auth/tokens']) {
        assertFault(
          await env.request('GET', url, { token: owner.token }),
          404,
          'itemNotFound',
          'Resource not found.',
        );
      }
      const head = await env.request('HEAD', '/nope');
      assert.equal(head.status, 404);
      assert.equal(head.text, '');
    });

    test('a wrong method on a known path is 405 methodNotAllowed with Allow', async () => {
      const cases: [string, string, string][] = [
        ['PUT', '/v2.0/tokens', 'POST, DELETE'],
        ['GET', '/v2.0/tokens', 'POST, DELETE'],
        ['PUT', `/v2.0/tokens/${owner.token}`, 'GET, HEAD, DELETE'],
        ['POST', `/v2.0/tokens/${owner.token}/endpoints`, 'GET, HEAD'],
        ['PATCH', `/v2.0/users/${owner.id}`, 'GET, HEAD, POST, DELETE'],
        ['PUT', '/v2.0/users', 'GET, HEAD, POST'],
        ['POST', apiKeyPath(owner.id), 'GET, HEAD, DELETE'],
        ['PUT', apiKeyPath(owner.id), 'GET, HEAD, DELETE'],
        ['GET', `${apiKeyPath(owner.id)}/RAX-AUTH/reset`, 'POST'],
        ['DELETE', `/v2.0/users/${owner.id}/OS-KSADM/credentials`, 'GET, HEAD, POST'],
        ['POST', '/health', 'GET, HEAD'],
      ];
      for (const [method, url, allow] of cases) {
        const response = await env.request(method, url, { token: owner.token });
        assertFault(response, 405, 'methodNotAllowed', `Method ${method} not allowed.`);
        const listed = String(response.headers.allow).split(', ').sort();
        assert.deepEqual(listed, allow.split(', ').sort(), `${method} ${url}`);
      }
    });

    test('a body that is not JSON is 415 unsupportedMediaType', async () => {
      for (const contentType of [
        'text/plain',
        'application/xml',
        'application/x-www-form-urlencoded',
        'application/jsonx',
      ]) {
        const response = await env.request('POST', '/v2.0/tokens', {
          body: 'auth=x',
          headers: { 'content-type': contentType },
        });
        assertFault(response, 415, 'unsupportedMediaType');
      }
    });

    test('application/json is accepted with a charset and in any case', async () => {
      for (const contentType of ['application/json; charset=utf-8', 'Application/JSON']) {
        const response = await env.request('POST', '/v2.0/tokens', {
          body: { auth: { passwordCredentials: { username: owner.username, password: owner.password } } },
          headers: { 'content-type': contentType },
        });
        accessOf(response);
      }
    });

    test('a body over 64 KiB is 413 overLimit; exactly 64 KiB is read', async () => {
      assert.equal(BODY_LIMIT_BYTES, 64 * 1024);
      const over = await env.request('POST', '/v2.0/tokens', { body: bodyOfSize(BODY_LIMIT_BYTES + 1) });
      assertFault(over, 413, 'overLimit');
      const limit = await env.request('POST', '/v2.0/tokens', { body: bodyOfSize(BODY_LIMIT_BYTES) });
      assertFault(limit, 400, 'badRequest', Messages.unknownCredential);
    });

    test('malformed JSON is 400 badRequest', async () => {
      for (const body of ['{bad', '{"auth":', '[1,]', 'nul']) {
        assertFault(await env.request('POST', '/v2.0/tokens', { body }), 400, 'badRequest');
      }
    });

    test('JSON with a __proto__ key is refused, not merged', async () => {
      const response = await env.request('POST', '/v2.0/tokens', {
        body: '{"auth":{"passwordCredentials":{"username":"a","password":"b"}},"__proto__":{"admin":true}}',
      });
      assertFault(response, 400, 'badRequest');
    });

    test('a JSON Content-Type with an empty body is no body: bodiless calls work, others get their 400', async () => {
      const sub = await createUserVia(env, owner, 'sub');
      const reset = await env.request('POST', `${apiKeyPath(sub.id)}/RAX-AUTH/reset`, {
        token: sub.token,
        headers: { 'content-type': 'application/json' },
      });
      assert.equal(reset.status, 200, reset.text);
      const revoke = await env.request('DELETE', '/v2.0/tokens', {
        token: sub.token,
        headers: { 'content-type': 'application/json' },
      });
      assert.equal(revoke.status, 204, revoke.text);
      assertFault(
        await env.request('POST', '/v2.0/tokens', { headers: { 'content-type': 'application/json' } }),
        400,
        'badRequest',
        Messages.noCredentials,
      );
      assertFault(
        await env.request('POST', '/v2.0/users', {
          token: owner.token,
          headers: { 'content-type': 'application/json' },
        }),
        400,
        'badRequest',
      );
    });

    test('a missing or invalid X-Auth-Token is 401 with the reference message', async () => {
      const protectedCalls: [string, string][] = [
        ['GET', '/v2.0/users'],
        ['GET', `/v2.0/users/${owner.id}`],
        ['GET', `/v2.0/tokens/${owner.token}`],
        ['DELETE', '/v2.0/tokens'],
        ['GET', apiKeyPath(owner.id)],
        ['GET', `/v2.0/RAX-AUTH/domains/${owner.domainId}`],
      ];
      for (const [method, url] of protectedCalls) {
        for (const token of [undefined, 'f'.repeat(32), 'not-a-token', '']) {
          const response = await env.request(
            method,
            url,
            token === undefined ? {} : { headers: { 'x-auth-token': token } },
          );
          assertFault(
            response,
            401,
            'unauthorized',
            "No valid token provided. Please use the 'X-Auth-Token' header with a valid token.",
          );
        }
      }
    });

    test('URLs the router cannot match still get a fault body that does not echo them', async () => {
      const long = await env.request('GET', `/v2.0/tokens/${'a'.repeat(300)}`, { token: owner.token });
      assertFault(long, 400, 'badRequest');
      assert.ok(!long.text.includes('a'.repeat(300)));
      assertFault(
        await env.request('GET', '/v2.0/users/%E0%A4%A', { token: owner.token }),
        400,
        'badRequest',
      );
    });

    test('Accept naming only XML is 406', async () => {
      const response = await env.request('GET', '/v2.0/users', {
        token: owner.token,
        headers: { accept: 'application/xml' },
      });
      assertFault(response, 406, 'notAcceptable');
      const browser = await env.request('GET', '/health', {
        headers: { accept: 'text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8' },
      });
      assert.equal(browser.status, 200);
    });

    test('a handler that throws is a 500 identityFault that reveals nothing; the stack goes to the log', async () => {
      const app = buildApp(env.deps);
      app.get('/test/explode', async () => {
        throw new Error('connection to db.internal:5432 refused for user latchkey');
      });
      app.get('/test/explode-with-status', async () => {
        throw Object.assign(new Error('upstream said: secret detail'), { statusCode: 502 });
      });
      await app.ready();
      try {
        const before = env.logs.length;
        for (const url of ['/test/explode', '/test/explode-with-status']) {
          const response = await app.inject({ method: 'GET', url });
          assert.equal(response.statusCode, 500);
          const body = JSON.parse(response.body) as Response['body'];
          assert.deepEqual(body, {
            identityFault: { code: 500, message: 'The service encountered an unexpected error.' },
          });
          assert.ok(!response.body.includes('db.internal') && !response.body.includes('secret detail'));
        }
        const lines = env.logs
          .slice(before)
          .map((line) => JSON.parse(line) as { level: number; msg: string; err?: { stack?: string } });
        const errors = lines.filter((line) => line.msg === 'unhandled error');
        assert.equal(errors.length, 2);
        assert.equal(errors[0]?.level, 50);
        assert.match(
          errors[0]?.err?.stack ?? '',
          /connection to db\.internal:5432 refused[\s\S]*http-errors\.test\.ts/,
        );
      } finally {
        await app.close();
      }
    });
  });

  describe(`health and metrics (${dialect})`, () => {
    let env: TestEnv;
    before(async () => {
      env = await createTestEnv({ dialect });
    });
    after(() => env.close());

    test('GET /health is 200 {"status":"ok"} without a token', async () => {
      const response = await env.request('GET', '/health');
      assert.equal(response.status, 200);
      assert.deepEqual(response.body, { status: 'ok' });
      assert.match(String(response.headers['content-type']), /^application\/json/);
    });

    test('GET /health/ready is 200 when the store answers and every migration has run', async () => {
      const response = await env.request('GET', '/health/ready');
      assert.equal(response.status, 200, response.text);
      assert.deepEqual(response.body, { status: 'ready' });
    });

    test('when the store does not answer, /health/ready is 503 and /health (liveness) stays 200', async () => {
      const store = env.deps.store;
      const ping = store.ping;
      store.ping = async () => {
        throw new Error('database unreachable at 10.0.0.5');
      };
      try {
        const response = await env.request('GET', '/health/ready');
        assert.equal(response.status, 503);
        assert.deepEqual(response.body, { status: 'unavailable', reason: 'database unreachable' });
        assert.ok(!response.text.includes('10.0.0.5'));
        assert.equal((await env.request('GET', '/health')).status, 200);
      } finally {
        store.ping = ping;
      }
    });

    test('/health/ready is 503 and names the migrations while the schema is behind the code', async () => {
      const [latest] = Object.keys(migrations).sort().reverse();
      assert.ok(latest);
      const row = await env.deps.db
        .withTables<{ kysely_migration: { name: string; timestamp: string } }>()
        .selectFrom('kysely_migration')
        .selectAll()
        .where('name', '=', latest)
        .executeTakeFirstOrThrow();
      await env.deps.db
        .withTables<{ kysely_migration: { name: string } }>()
        .deleteFrom('kysely_migration')
        .where('name', '=', latest)
        .execute();
      try {
        const response = await env.request('GET', '/health/ready');
        assert.equal(response.status, 503);
        assert.deepEqual(response.body, {
          status: 'unavailable',
          reason: 'migrations pending',
          pending: [latest],
        });
      } finally {
        await env.deps.db
          .withTables<{ kysely_migration: { name: string; timestamp: string } }>()
          .insertInto('kysely_migration')
          .values(row)
          .execute();
      }
      assert.equal((await env.request('GET', '/health/ready')).status, 200);
    });

    test('GET /metrics counts requests by route and status, latency, and logins by method and outcome', async () => {
      const admin = await createAdmin(env);
      const owner = await createAccount(env, admin);
      await passwordLogin(env, owner.username, 'Wrongpass1');
      await apiKeyLogin(env, owner.username, owner.apiKey);
      await apiKeyLogin(env, owner.username, 'b'.repeat(32));
      await env.request('POST', '/v2.0/tokens', { body: {} });
      await env.request('GET', `/v2.0/tokens/${owner.token}`, { token: owner.token });
      await env.request('GET', '/nowhere');

      const response = await env.request('GET', '/metrics', { token: owner.token });
      assert.equal(response.status, 200);
      assert.match(String(response.headers['content-type']), /^text\/plain; version=0\.0\.4/);
      const text = response.text;
      const value = (pattern: RegExp): number => {
        const match = new RegExp(`^${pattern.source} (\\d+(?:\\.\\d+)?)$`, 'm').exec(text);
        assert.ok(match?.[1], `no sample ${pattern.source} in\n${text}`);
        return Number(match[1]);
      };
      // Every finished request is counted: createAdmin and createAccount logged in and read keys.
      assert.ok(
        value(/latchkey_http_requests_total\{route="\/v2\.0\/tokens",method="POST",status="200"\}/) >= 3,
      );
      assert.equal(
        value(/latchkey_http_requests_total\{route="\/v2\.0\/tokens",method="POST",status="401"\}/),
        2,
      );
      assert.equal(
        value(/latchkey_http_requests_total\{route="\/v2\.0\/tokens",method="POST",status="400"\}/),
        1,
      );
      assert.equal(
        value(/latchkey_http_requests_total\{route="\/v2\.0\/tokens\/:tokenId",method="GET",status="200"\}/),
        1,
      );
      assert.equal(value(/latchkey_http_requests_total\{route="unmatched",method="GET",status="404"\}/), 1);
      // createAccount read the owner's API key: the literal colon is labelled as clients write it.
      assert.ok(
        value(
          /latchkey_http_requests_total\{route="\/v2\.0\/users\/:userId\/OS-KSADM\/credentials\/RAX-KSKEY:apiKeyCredentials",method="GET",status="200"\}/,
        ) >= 1,
      );
      assert.equal(
        value(
          /latchkey_http_request_duration_seconds_count\{route="\/v2\.0\/tokens\/:tokenId",method="GET",status="200"\}/,
        ),
        1,
      );
      assert.match(
        text,
        /latchkey_http_request_duration_seconds_bucket\{le="0\.001",route="\/v2\.0\/tokens"/,
      );
      assert.ok(value(/latchkey_logins_total\{method="password",outcome="success"\}/) >= 2);
      assert.equal(value(/latchkey_logins_total\{method="password",outcome="failure"\}/), 1);
      assert.equal(value(/latchkey_logins_total\{method="apiKey",outcome="success"\}/), 1);
      assert.equal(value(/latchkey_logins_total\{method="apiKey",outcome="failure"\}/), 1);
      assert.equal(value(/latchkey_logins_total\{method="unknown",outcome="failure"\}/), 1);
      // Paths are labelled by route pattern: no token id or user id ever becomes a label.
      assert.ok(!text.includes(owner.token));
      assert.ok(!text.includes(owner.id));
    });
  });

  describe(`metrics behind LATCHKEY_METRICS_TOKEN (${dialect})`, () => {
    let env: TestEnv;
    const secret = 'scrape-secret-0123456789';
    before(async () => {
      env = await createTestEnv({ dialect, env: { LATCHKEY_METRICS_TOKEN: secret } });
    });
    after(() => env.close());

    test('without the bearer token /metrics is 401; with it 200', async () => {
      const owner = await createAccount(env);
      const denied: Record<string, string>[] = [
        {},
        { authorization: 'Bearer wrong' },
        { authorization: secret },
        { authorization: `Basic ${secret}` },
        { authorization: `Bearer ${secret}x` },
        { 'x-auth-token': owner.token },
      ];
      for (const headers of denied) {
        assertFault(await env.request('GET', '/metrics', { headers }), 401, 'unauthorized');
      }
      const allowed = await env.request('GET', '/metrics', {
        headers: { authorization: `Bearer ${secret}`, 'x-auth-token': owner.token },
      });
      assert.equal(allowed.status, 200);
      assert.match(allowed.text, /latchkey_http_requests_total/);
      // Health stays open.
      assert.equal((await env.request('GET', '/health')).status, 200);
      assert.equal(tokenOf(await passwordLogin(env, owner.username)).length, 32);
    });
  });
}
