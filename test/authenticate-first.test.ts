import { after, before, describe, test } from 'node:test';
import { Messages } from '../src/core/errors.js';
import { assertFault } from './support/api.js';
import { createAccount, createTestEnv, dialects, type TestEnv, type TestUser } from './support/harness.js';

for (const dialect of dialects()) {
  describe(`v2.0 authenticates the caller before it judges the path (${dialect})`, () => {
    let env: TestEnv;
    let owner: TestUser;
    before(async () => {
      env = await createTestEnv({ dialect });
      owner = await createAccount(env);
    });
    after(() => env.close());

    test('regression: GET /v2.0/tokens/whatever with an invalid X-Auth-Token answered 404 before 401', async () => {
      for (const token of [undefined, 'not-a-token', 'f'.repeat(32)]) {
        for (const [method, url] of [
          ['GET', '/v2.0/tokens/whatever'],
          ['GET', '/v2.0/tokens/whatever/endpoints'],
          ['DELETE', '/v2.0/tokens/whatever'],
          ['GET', '/v2.0/users/whatever'],
          ['DELETE', '/v2.0/users/whatever'],
          ['GET', '/v2.0/users/whatever/RAX-AUTH/multi-factor/otp-devices/nope'],
          ['GET', '/v2.0/RAX-AUTH/domains/abc'],
        ] as const) {
          const response = await env.request(method, url, token === undefined ? {} : { token });
          assertFault(response, 401, 'unauthorized', Messages.noToken);
        }
      }
    });

    test('a body of the wrong shape on a route that takes a token is 401 without one', async () => {
      const response = await env.request('POST', `/v2.0/users/${owner.id}`, {
        token: 'not-a-token',
        body: { user: { enabled: 'yes' } },
      });
      assertFault(response, 401, 'unauthorized', Messages.noToken);
    });

    test('an authenticated caller still gets 404 (and 400 for a bad body)', async () => {
      assertFault(
        await env.request('GET', '/v2.0/tokens/whatever', { token: owner.token }),
        404,
        'itemNotFound',
        Messages.tokenNotFound,
      );
      assertFault(
        await env.request('GET', '/v2.0/users/whatever', { token: owner.token }),
        404,
        'itemNotFound',
      );
      assertFault(
        await env.request('POST', `/v2.0/users/${owner.id}`, {
          token: owner.token,
          body: { user: { enabled: 'yes' } },
        }),
        400,
        'badRequest',
      );
    });
  });
}
