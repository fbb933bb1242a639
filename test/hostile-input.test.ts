import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Messages } from '../src/core/errors.js';
import { CONTROL_CHARACTERS_MESSAGE } from '../src/http/faults.js';
import { assertFault } from './support/api.js';
import {
  createAccount,
  createAdmin,
  createTestEnv,
  dialects,
  type TestEnv,
  type TestUser,
} from './support/harness.js';

const NUL = '\u0000';

for (const dialect of dialects()) {
  describe(`hostile input is refused at the edge (${dialect})`, () => {
    let env: TestEnv;
    let admin: TestUser;
    let owner: TestUser;
    before(async () => {
      env = await createTestEnv({ dialect });
      admin = await createAdmin(env);
      owner = await createAccount(env, admin);
    });
    after(() => env.close());

    test('regression: a NUL byte in a login username, a query, an event filter, an email or a region field was a 500 on PostgreSQL', async () => {
      const errorsBefore = env.logs.filter((line) => line.includes('"level":50')).length;
      const cases = [
        env.request('POST', '/v2.0/tokens', {
          body: { auth: { passwordCredentials: { username: `admin${NUL}`, password: 'Secretpass1' } } },
        }),
        env.request('POST', '/v2.0/tokens', {
          body: { auth: { 'RAX-KSKEY:apiKeyCredentials': { username: `x${NUL}`, apiKey: 'k' } } },
        }),
        env.request('GET', `/v2.0/users?name=${encodeURIComponent(`a${NUL}b`)}`, { token: admin.token }),
        env.request('GET', `/v2.0/users?email=${encodeURIComponent(`a${NUL}@example.com`)}`, {
          token: admin.token,
        }),
        env.request('GET', `/v2.0/RAX-AUTH/events?type=${encodeURIComponent(`login${NUL}`)}`, {
          token: admin.token,
        }),
        env.request('GET', `/v2.0/RAX-AUTH/events?since=${encodeURIComponent(`2026-01-01${NUL}`)}`, {
          token: admin.token,
        }),
        env.request('POST', `/v2.0/users/${owner.id}`, {
          token: admin.token,
          body: { user: { email: `owner${NUL}@example.com` } },
        }),
        env.request('POST', `/v2.0/users/${owner.id}`, {
          token: admin.token,
          body: { user: { 'RAX-AUTH:defaultRegion': `ORD${NUL}` } },
        }),
        env.request('POST', '/v2.0/users', {
          token: admin.token,
          body: { user: { username: 'fresh', email: 'x@example.com', [`extra${NUL}`]: 1 } },
        }),
        env.request('POST', '/v2.0/users', {
          token: admin.token,
          body: { user: { username: 'lone', 'RAX-AUTH:defaultRegion': '\ud800' } },
        }),
      ];
      for (const response of await Promise.all(cases)) {
        assertFault(response, 400, 'badRequest', CONTROL_CHARACTERS_MESSAGE);
      }
      const errorsAfter = env.logs.filter((line) => line.includes('"level":50')).length;
      assert.equal(errorsAfter, errorsBefore, 'no error (and no stack) in the log');
      const stored = await env.deps.db
        .selectFrom('users')
        .select(['email', 'default_region'])
        .where('id', '=', owner.id)
        .executeTakeFirstOrThrow();
      assert.ok(!`${stored.email}${stored.default_region}`.includes(NUL), 'nothing was stored');
    });

    test('regression: a path id of the wrong shape reached the database; now it is a 404 before any query', async () => {
      for (const path of [
        `/v2.0/users/${encodeURIComponent(`${owner.id}${NUL}`)}`,
        '/v2.0/users/not-a-user-id',
        `/v2.0/users/${owner.id.toUpperCase()}`,
        `/v2.0/users/${owner.id}/RAX-AUTH/multi-factor/otp-devices/${'z'.repeat(32)}`,
        `/v2.0/users/${owner.id}/RAX-AUTH/multi-factor/mobile-phones/1;drop`,
        '/v2.0/RAX-AUTH/domains/abc',
      ]) {
        const response = await env.request('GET', path, { token: admin.token });
        if (path.includes('%00')) assertFault(response, 400, 'badRequest', CONTROL_CHARACTERS_MESSAGE);
        else assertFault(response, 404, 'itemNotFound');
      }
      assertFault(
        await env.request('GET', '/v2.0/tokens/not-a-token', { token: admin.token }),
        404,
        'itemNotFound',
        Messages.tokenNotFound,
      );
      // An event filter of the wrong shape is a 400.
      for (const query of ['userId=nope', 'domainId=12ab', 'type=DROP%20TABLE']) {
        const response = await env.request('GET', `/v2.0/RAX-AUTH/events?${query}`, { token: admin.token });
        assertFault(response, 400, 'badRequest');
      }
    });
  });
}
