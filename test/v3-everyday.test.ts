import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Messages } from '../src/core/errors.js';
import { PASSWORD_POLICY_MESSAGE } from '../src/identity/passwords.js';
import { TOO_MANY_FAILURES } from '../src/lockout/source-failures.js';
import { assertFault } from './support/api.js';
import {
  createAccount,
  createAdmin,
  createTestEnv,
  createUserVia,
  dialects,
  PASSWORD,
  passwordLogin,
  type Response,
  type TestEnv,
  type TestUser,
} from './support/harness.js';

/** inject() reaches the app as `localhost:80`. */
const BASE = 'http://localhost:80';
const HISTORY = 3;
const LOCKOUT_ATTEMPTS = 3;
const historyMessage = `The new password cannot be identical to a previous password. The total number which includes the new password must be unique is ${HISTORY}.`;

function assertKeystoneError(response: Response, code: number, message?: string): void {
  assert.equal(response.status, code, response.text);
  assert.deepEqual(Object.keys(response.body), ['error']);
  const error = response.body.error as { code: number; title: string; message: string };
  assert.equal(error.code, code);
  assert.notEqual(error.title, '');
  if (message !== undefined) assert.equal(error.message, message);
}

interface Project {
  id: string;
  name: string;
  domain_id: string;
  enabled: boolean;
  parent_id: string;
  is_domain: boolean;
  links: { self: string };
}

function v3Login(env: TestEnv, username: string, password: string): Promise<Response> {
  return env.request('POST', '/v3/auth/tokens', {
    body: {
      auth: {
        identity: {
          methods: ['password'],
          password: { user: { name: username, domain: { id: 'default' }, password } },
        },
      },
    },
  });
}

function changePassword(
  env: TestEnv,
  user: Pick<TestUser, 'id' | 'token'>,
  original: string,
  password: string,
  remoteAddress?: string,
): Promise<Response> {
  return env.request('POST', `/v3/users/${user.id}/password`, {
    token: user.token,
    body: { user: { original_password: original, password } },
    ...(remoteAddress === undefined ? {} : { remoteAddress }),
  });
}

for (const dialect of dialects()) {
  describe(`Identity v3 for everyday users: catalog, projects, domains (${dialect})`, () => {
    let env: TestEnv;
    let admin: TestUser;
    let owner: TestUser;
    let member: TestUser;
    let stranger: TestUser;
    before(async () => {
      env = await createTestEnv({ dialect });
      admin = await createAdmin(env);
      owner = await createAccount(env, admin);
      member = await createUserVia(env, owner, 'member');
      stranger = await createAccount(env, admin);
    });
    after(() => env.close());

    test("GET /v3/auth/catalog: the token's catalog with Keystone's links; identity is latchkey", async () => {
      const response = await env.request('GET', '/v3/auth/catalog', { token: member.token });
      assert.equal(response.status, 200, response.text);
      assert.deepEqual(response.body.links, { self: `${BASE}/v3/auth/catalog` });
      const catalog = response.body.catalog as unknown as { type: string; endpoints: { url: string }[] }[];
      const identity = catalog.find((service) => service.type === 'identity');
      assert.ok(identity?.endpoints.every((endpoint) => endpoint.url === `${BASE}/v3`));
      const login = await v3Login(env, member.username, PASSWORD);
      assert.deepEqual(catalog, (login.body.token as { catalog: unknown }).catalog);
    });

    test('GET /v3/auth/catalog for a token without a project is refused as Keystone refuses it', async () => {
      const response = await env.request('GET', '/v3/auth/catalog', { token: admin.token });
      assertKeystoneError(response, 403, 'A project-scoped token is required to produce a service catalog.');
    });

    test("GET /v3/auth/projects: the account's one project, as a token names it; none outside accounts", async () => {
      const response = await env.request('GET', '/v3/auth/projects', { token: member.token });
      assert.equal(response.status, 200, response.text);
      const domainId = owner.domainId ?? '';
      assert.deepEqual(response.body.links, { self: `${BASE}/v3/auth/projects`, previous: null, next: null });
      const projects = response.body.projects as unknown as Project[];
      assert.equal(projects.length, 1);
      assert.deepEqual(
        { ...projects[0], description: undefined },
        {
          id: domainId,
          name: domainId,
          domain_id: domainId,
          description: undefined,
          enabled: true,
          parent_id: domainId,
          is_domain: false,
          tags: [],
          options: {},
          links: { self: `${BASE}/v3/projects/${domainId}` },
        },
      );
      const token = (await v3Login(env, member.username, PASSWORD)).body.token as { project: { id: string } };
      assert.equal(token.project.id, projects[0]?.id);
      const none = await env.request('GET', '/v3/auth/projects', { token: admin.token });
      assert.deepEqual(none.body.projects, []);
    });

    test('GET /v3/auth/domains: empty, since no token is domain-scoped', async () => {
      const response = await env.request('GET', '/v3/auth/domains', { token: owner.token });
      assert.equal(response.status, 200, response.text);
      assert.deepEqual(response.body, {
        domains: [],
        links: { self: `${BASE}/v3/auth/domains`, previous: null, next: null },
      });
    });

    test("GET /v3/domains/{id}: one's own account and default; another account is 403, none 404", async () => {
      const own = await env.request('GET', `/v3/domains/${owner.domainId}`, { token: member.token });
      assert.equal(own.status, 200, own.text);
      const domain = own.body.domain as { id: string; enabled: boolean; links: { self: string } };
      assert.equal(domain.id, owner.domainId);
      assert.equal(domain.enabled, true);
      assert.equal(domain.links.self, `${BASE}/v3/domains/${owner.domainId}`);
      const fallback = await env.request('GET', '/v3/domains/default', { token: member.token });
      assert.equal(fallback.status, 200, fallback.text);
      assert.deepEqual(
        { ...(fallback.body.domain as object), description: undefined },
        {
          id: 'default',
          name: 'Default',
          description: undefined,
          enabled: true,
          tags: [],
          options: {},
          links: { self: `${BASE}/v3/domains/default` },
        },
      );
      assertKeystoneError(
        await env.request('GET', `/v3/domains/${stranger.domainId}`, { token: member.token }),
        403,
        'You are not authorized to perform the requested action: identity:get_domain.',
      );
      assertKeystoneError(
        await env.request('GET', '/v3/domains/999', { token: member.token }),
        404,
        'Could not find domain: 999.',
      );
      const byAdmin = await env.request('GET', `/v3/domains/${stranger.domainId}`, { token: admin.token });
      assert.equal(byAdmin.status, 200, byAdmin.text);
    });

    test('GET /v3/users/{id}/projects: oneself, the account owner and administrators; no one else', async () => {
      for (const caller of [member, owner, admin]) {
        const response = await env.request('GET', `/v3/users/${member.id}/projects`, { token: caller.token });
        assert.equal(response.status, 200, response.text);
        assert.deepEqual(
          (response.body.projects as unknown as Project[]).map((project) => project.id),
          [owner.domainId],
        );
        assert.equal(
          (response.body.links as { self: string }).self,
          `${BASE}/v3/users/${member.id}/projects`,
        );
      }
      const forbidden =
        'You are not authorized to perform the requested action: identity:list_user_projects.';
      assertKeystoneError(
        await env.request('GET', `/v3/users/${member.id}/projects`, { token: stranger.token }),
        403,
        forbidden,
      );
      // An ordinary user learns nothing of other ids; an administrator gets Keystone's 404.
      const unknown = '0123456789abcdef0123456789abcdef';
      assertKeystoneError(
        await env.request('GET', `/v3/users/${unknown}/projects`, { token: member.token }),
        403,
        forbidden,
      );
      assertKeystoneError(
        await env.request('GET', `/v3/users/${unknown}/projects`, { token: admin.token }),
        404,
        `Could not find user: ${unknown}.`,
      );
    });

    test("GET /v3/users/{id}/projects filters by name, domain_id and enabled as Keystone's list does", async () => {
      const path = `/v3/users/${member.id}/projects`;
      const count = async (query: string) =>
        (
          (await env.request('GET', `${path}?${query}`, { token: member.token })).body
            .projects as unknown as unknown[]
        ).length;
      assert.equal(await count(`name=${owner.domainId}`), 1);
      assert.equal(await count('name=other'), 0);
      assert.equal(await count(`domain_id=${stranger.domainId}`), 0);
      assert.equal(await count('enabled=true'), 1);
      assert.equal(await count('enabled=false'), 0);
    });

    test('GET /v3/projects: every account for an administrator; anyone else 403, which sends the stock client to its own', async () => {
      const all = await env.request('GET', '/v3/projects', { token: admin.token });
      assert.equal(all.status, 200, all.text);
      const ids = (all.body.projects as unknown as Project[]).map((project) => project.id);
      assert.ok(ids.includes(owner.domainId ?? '') && ids.includes(stranger.domainId ?? ''));
      const one = await env.request('GET', `/v3/projects?name=${stranger.domainId}`, { token: admin.token });
      assert.deepEqual(
        (one.body.projects as unknown as Project[]).map((project) => project.id),
        [stranger.domainId],
      );
      for (const caller of [owner, member]) {
        assertKeystoneError(
          await env.request('GET', '/v3/projects', { token: caller.token }),
          403,
          'You are not authorized to perform the requested action: identity:list_projects.',
        );
      }
    });

    test('the new endpoints want a token: 401 with Keystone uri', async () => {
      for (const path of ['/v3/auth/catalog', '/v3/auth/projects', '/v3/domains/default']) {
        const response = await env.request('GET', path);
        assertKeystoneError(response, 401);
        assert.equal(response.headers['www-authenticate'], `Keystone uri="${BASE}/v3"`);
      }
    });

    test('hostile input to the new routes: never a 5xx, errors in Keystone format, no change', async () => {
      const ids = ['x'.repeat(65), '%00', "'; drop table users; --", '..%2F..%2Fetc', '%E2%80%AE'];
      const queries = ['name=%00', `name=${'n'.repeat(65)}`, 'enabled=%F0%9F%98%80', 'domain_id[]=1'];
      const requests: [string, string, unknown?][] = [
        ...ids.flatMap((id): [string, string][] => [
          ['GET', `/v3/domains/${id}`],
          ['GET', `/v3/users/${id}/projects`],
          ['POST', `/v3/users/${id}/password`],
        ]),
        ...queries.flatMap((query): [string, string][] => [
          ['GET', `/v3/users/${member.id}/projects?${query}`],
          ['GET', `/v3/projects?${query}`],
        ]),
        ...[
          'null',
          '[]',
          '"user"',
          '{"user":[]}',
          '{"user":{"original_password":"a\u0000b","password":"Newpass22"}}',
          `{"user":{"original_password":"${'p'.repeat(2000)}","password":"Newpass22"}}`,
          '{"user":{"original_password":"Secretpass1","password":{"$ne":""}}}',
          '{"user":',
        ].map((body): [string, string, unknown] => ['POST', `/v3/users/${member.id}/password`, body]),
      ];
      for (const [method, url, body] of requests) {
        for (const caller of [member, admin]) {
          const response = await env.request(method, url, {
            token: caller.token,
            ...(body === undefined ? {} : { body }),
          });
          assert.ok(response.status < 500, `${method} ${url}: ${response.text}`);
          if (response.status >= 400)
            assert.deepEqual(Object.keys(response.body), ['error'], `${method} ${url}: ${response.text}`);
          else assert.equal(method, 'GET', `${method} ${url}: ${response.text}`);
        }
      }
      // Nothing of that changed the member's password.
      assert.equal((await v3Login(env, member.username, PASSWORD)).status, 201);
    });

    test("an unscoped token (a user outside any account) has neither roles nor catalog, as Keystone's", async () => {
      const response = await env.request('GET', '/v3/auth/tokens', {
        token: admin.token,
        headers: { 'x-subject-token': admin.token },
      });
      assert.equal(response.status, 200, response.text);
      const token = response.body.token as Record<string, unknown>;
      assert.deepEqual(Object.keys(token).sort(), [
        'audit_ids',
        'expires_at',
        'issued_at',
        'methods',
        'user',
      ]);
    });
  });

  describe(`Identity v3 self-service password change (${dialect})`, () => {
    let env: TestEnv;
    let admin: TestUser;
    let owner: TestUser;
    before(async () => {
      env = await createTestEnv({
        dialect,
        env: {
          LATCHKEY_PASSWORD_HISTORY: String(HISTORY),
          LATCHKEY_PASSWORD_LOCKOUT_ATTEMPTS: String(LOCKOUT_ATTEMPTS),
          LATCHKEY_LOGIN_FAILURES_PER_SOURCE: '5',
        },
      });
      admin = await createAdmin(env);
      owner = await createAccount(env, admin);
    });
    after(() => env.close());

    test('a change with the right original password: 204, every token of the user revoked, the new password logs in', async () => {
      const user = await createUserVia(env, owner, 'changer');
      const other = await passwordLogin(env, user.username);
      const otherToken = (other.body.access as { token: { id: string } }).token.id;
      const response = await changePassword(env, user, PASSWORD, 'Newpass22');
      assert.equal(response.status, 204, response.text);
      for (const token of [user.token, otherToken]) {
        const check = await env.request('GET', '/v3/auth/tokens', {
          token: admin.token,
          headers: { 'x-subject-token': token },
        });
        assertKeystoneError(check, 404, Messages.tokenNotFound);
        // Keystone answers a dead token in the token method with 404, not 401.
        const reauth = await env.request('POST', '/v3/auth/tokens', {
          body: { auth: { identity: { methods: ['token'], token: { id: token } } } },
        });
        assertKeystoneError(reauth, 404, Messages.tokenNotFound);
      }
      assertKeystoneError(await v3Login(env, user.username, PASSWORD), 401, Messages.badPassword);
      assert.equal((await v3Login(env, user.username, 'Newpass22')).status, 201);
      const events = await env.deps.db
        .selectFrom('security_events')
        .select('type')
        .where('user_id', '=', user.id)
        .where('type', 'in', ['password.changed', 'tokens.revoked'])
        .execute();
      assert.deepEqual(events.map((event) => event.type).sort(), ['password.changed', 'tokens.revoked']);
    });

    test('a wrong original password is 401 and counts towards the password lock', async () => {
      const user = await createUserVia(env, owner, 'guesser');
      for (let attempt = 0; attempt < LOCKOUT_ATTEMPTS; attempt++) {
        const wrong = await changePassword(env, user, 'Wrongpass1', 'Newpass22', '10.0.1.1');
        assertKeystoneError(wrong, 401, Messages.badPassword);
      }
      // Locked: the right original password no longer changes anything, nor logs in.
      assertKeystoneError(await changePassword(env, user, PASSWORD, 'Newpass22', '10.0.1.1'), 401);
      assertKeystoneError(await v3Login(env, user.username, PASSWORD), 401);
      const failures = await env.deps.db
        .selectFrom('security_events')
        .select(['type', 'count'])
        .where('user_id', '=', user.id)
        .where('type', 'in', ['login.failed', 'password.locked'])
        .execute();
      assert.ok(failures.some((event) => event.type === 'password.locked'));
      assert.ok(failures.some((event) => event.type === 'login.failed'));
    });

    test('wrong original passwords count towards the per-source limit: then 429', async () => {
      const source = '10.0.2.2';
      const first = await createUserVia(env, owner, 'limited');
      const second = await createUserVia(env, owner, 'limited');
      for (const user of [first, first, second, second, second]) {
        assertKeystoneError(await changePassword(env, user, 'Wrongpass1', 'Newpass22', source), 401);
      }
      const refused = await changePassword(env, second, PASSWORD, 'Newpass22', source);
      assertKeystoneError(refused, 429, TOO_MANY_FAILURES);
      assert.ok(Number(refused.headers['retry-after']) > 0);
    });

    test('the new password must meet the policy (400), and nothing changes', async () => {
      const user = await createUserVia(env, owner, 'weak');
      assertKeystoneError(await changePassword(env, user, PASSWORD, 'short'), 400, PASSWORD_POLICY_MESSAGE);
      assert.equal((await v3Login(env, user.username, PASSWORD)).status, 201);
    });

    test("a recent password is refused with Keystone's message; one older than the history is allowed", async () => {
      const user = await createUserVia(env, owner, 'history');
      let token = user.token;
      const change = async (original: string, password: string) => {
        const response = await changePassword(env, { id: user.id, token }, original, password);
        if (response.status === 204) {
          token = String((await v3Login(env, user.username, password)).headers['x-subject-token']);
        }
        return response;
      };
      assertKeystoneError(await change(PASSWORD, PASSWORD), 400, historyMessage);
      assert.equal((await change(PASSWORD, 'Second22x')).status, 204);
      assertKeystoneError(await change('Second22x', PASSWORD), 400, historyMessage);
      assert.equal((await change('Second22x', 'Third333x')).status, 204);
      assertKeystoneError(await change('Third333x', PASSWORD), 400, historyMessage);
      assertKeystoneError(await change('Third333x', 'Second22x'), 400, historyMessage);
      assert.equal((await change('Third333x', 'Fourth44x')).status, 204);
      // PASSWORD is now four passwords back: outside a history of three.
      assert.equal((await change('Fourth44x', PASSWORD)).status, 204);
      // No more old hashes are kept than the setting needs (the current one is on the user).
      const kept = await env.deps.db
        .selectFrom('password_history')
        .select('password_hash')
        .where('user_id', '=', user.id)
        .execute();
      assert.equal(kept.length, HISTORY - 1);
    });

    test('the history holds on v2.0 too: an administrator cannot set a recent password', async () => {
      const user = await createUserVia(env, owner, 'v2history');
      const response = await env.request('POST', `/v2.0/users/${user.id}`, {
        token: owner.token,
        body: { user: { 'OS-KSADM:password': PASSWORD } },
      });
      assertFault(response, 400, 'badRequest', historyMessage);
      const allowed = await env.request('POST', `/v2.0/users/${user.id}`, {
        token: owner.token,
        body: { user: { 'OS-KSADM:password': 'Another22x' } },
      });
      assert.equal(allowed.status, 200, allowed.text);
    });

    test("only one's own password: another user's, even by an administrator, is 403", async () => {
      const user = await createUserVia(env, owner, 'target');
      for (const caller of [owner, admin]) {
        const response = await env.request('POST', `/v3/users/${user.id}/password`, {
          token: caller.token,
          body: { user: { original_password: PASSWORD, password: 'Newpass22' } },
        });
        assertKeystoneError(
          response,
          403,
          'You are not authorized to perform the requested action: identity:change_password.',
        );
      }
      assert.equal((await v3Login(env, user.username, PASSWORD)).status, 201);
    });

    test('a malformed body is 400 in Keystone format; GET is 405', async () => {
      const user = await createUserVia(env, owner, 'malformed');
      for (const body of [{}, { user: { password: 'Newpass22' } }, { user: { original_password: 1 } }]) {
        const response = await env.request('POST', `/v3/users/${user.id}/password`, {
          token: user.token,
          body,
        });
        assertKeystoneError(response, 400);
      }
      const get = await env.request('GET', `/v3/users/${user.id}/password`, { token: user.token });
      assertKeystoneError(get, 405);
    });
  });

  describe(`password history is off by default (${dialect})`, () => {
    let env: TestEnv;
    before(async () => {
      env = await createTestEnv({ dialect });
    });
    after(() => env.close());

    test('the current password may be set again, and no old hash is kept', async () => {
      const owner = await createAccount(env);
      const response = await changePassword(env, owner, PASSWORD, PASSWORD);
      assert.equal(response.status, 204, response.text);
      const kept = await env.deps.db.selectFrom('password_history').select('user_id').execute();
      assert.equal(kept.length, 0);
    });
  });
}
