import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { sql } from 'kysely';
import { resolveToken, tokenValidationStats } from '../src/access/tokens.js';
import { ValidationCache } from '../src/access/validation-cache.js';
import { Messages } from '../src/core/errors.js';
import { recordEvent } from '../src/events/events.js';
import type { TokenRow, UserRow } from '../src/store/schema.js';
import { describeWrites } from '../src/store/write-feed.js';
import {
  createAccount,
  createAdmin,
  createTestEnv,
  createUserVia,
  dialects,
  passwordLogin,
  setRole,
  type TestEnv,
  type TestUser,
} from './support/harness.js';
import { enableOtp, sendPasscode, startMfaLogin } from './support/mfa.js';

/**
 * The embedded store answers validation from memory; every write that can change a validation
 * answer must still show on the very next request, on both stores.
 */
for (const dialect of dialects()) {
  describe(`a write is seen by the next validation (${dialect})`, () => {
    let env: TestEnv;
    let admin: TestUser;
    before(async () => {
      env = await createTestEnv({ dialect });
      admin = await createAdmin(env);
    });
    after(() => env.close());

    const validate = (token: string, as = token) =>
      env.request('GET', `/v2.0/tokens/${token}`, { token: as });

    /** Validate twice, so a remembering store has surely remembered the answer. */
    async function validateTwice(token: string, as = token): Promise<void> {
      for (let i = 0; i < 2; i++) {
        const shown = await validate(token, as);
        assert.equal(shown.status, 200, shown.text);
      }
    }

    async function apiKeyToken(user: TestUser, apiKey = user.apiKey): Promise<string> {
      const login = await env.request('POST', '/v2.0/tokens', {
        body: { auth: { 'RAX-KSKEY:apiKeyCredentials': { username: user.username, apiKey } } },
      });
      assert.equal(login.status, 200, login.text);
      return (login.body.access as { token: { id: string } }).token.id;
    }

    const shownUser = (response: { body: { access?: Record<string, unknown> } }) =>
      response.body.access?.user as { name: string; roles: { name: string }[]; [key: string]: unknown };

    test('revocation', async () => {
      const owner = await createAccount(env, admin);
      await validateTwice(owner.token);
      await validateTwice(owner.token, admin.token);
      const revoke = await env.request('DELETE', `/v2.0/tokens/${owner.token}`, { token: admin.token });
      assert.equal(revoke.status, 204, revoke.text);
      assert.equal((await validate(owner.token)).status, 401);
      const byAdmin = await validate(owner.token, admin.token);
      assert.equal(byAdmin.status, 404);
      assert.equal(byAdmin.body.itemNotFound?.message, Messages.tokenNotFound);
    });

    test('disable, through the API', async () => {
      const owner = await createAccount(env, admin);
      const member = await createUserVia(env, owner);
      await validateTwice(member.token);
      const disable = await env.request('POST', `/v2.0/users/${member.id}`, {
        token: owner.token,
        body: { user: { enabled: false } },
      });
      assert.equal(disable.status, 200, disable.text);
      assert.equal((await validate(member.token)).status, 401);
    });

    test('disable, by a write to the user row alone', async () => {
      const owner = await createAccount(env, admin);
      await validateTwice(owner.token);
      await env.deps.db.updateTable('users').set({ enabled: 0 }).where('id', '=', owner.id).execute();
      const refused = await validate(owner.token);
      assert.equal(refused.status, 403, refused.text);
      await env.deps.db.updateTable('users').set({ enabled: 1 }).where('id', '=', owner.id).execute();
      assert.equal((await validate(owner.token)).status, 200);
    });

    test('delete', async () => {
      const owner = await createAccount(env, admin);
      const member = await createUserVia(env, owner);
      await validateTwice(member.token);
      await validateTwice(member.token, owner.token);
      const remove = await env.request('DELETE', `/v2.0/users/${member.id}`, { token: owner.token });
      assert.equal(remove.status, 204, remove.text);
      assert.equal((await validate(member.token)).status, 401);
      assert.equal((await validate(member.token, owner.token)).status, 404);
    });

    test('role change', async () => {
      const owner = await createAccount(env, admin);
      const member = await createUserVia(env, owner);
      await validateTwice(member.token);
      await setRole(env, member, 'identity:user-manage');
      const shown = await validate(member.token);
      assert.equal(shown.status, 200, shown.text);
      const roles = shownUser(shown).roles.map((role) => role.name);
      assert.ok(roles.includes('identity:user-manage'), JSON.stringify(roles));
    });

    test('username change', async () => {
      const owner = await createAccount(env, admin);
      await validateTwice(owner.token);
      const renamed = `${owner.username}x`;
      const update = await env.request('POST', `/v2.0/users/${owner.id}`, {
        token: admin.token,
        body: { user: { username: renamed } },
      });
      assert.equal(update.status, 200, update.text);
      assert.equal(shownUser(await validate(owner.token)).name, renamed);
    });

    test('password change', async () => {
      const owner = await createAccount(env, admin);
      const member = await createUserVia(env, owner);
      const byKey = await apiKeyToken(member);
      await validateTwice(member.token);
      await validateTwice(byKey);
      const change = await env.request('POST', `/v2.0/users/${member.id}`, {
        token: owner.token,
        body: { user: { 'OS-KSADM:password': 'Changedpass2' } },
      });
      assert.equal(change.status, 200, change.text);
      assert.equal((await validate(member.token)).status, 401);
      assert.equal((await validate(byKey)).status, 401);
      const fresh = await passwordLogin(env, member.username, 'Changedpass2');
      assert.equal(fresh.status, 200, fresh.text);
      await validateTwice((fresh.body.access as { token: { id: string } }).token.id);
    });

    test('API-key reset and delete: tokens stay valid, the old key stops working', async () => {
      const owner = await createAccount(env, admin);
      const byKey = await apiKeyToken(owner);
      await validateTwice(byKey);
      const reset = await env.request(
        'POST',
        `/v2.0/users/${owner.id}/OS-KSADM/credentials/RAX-KSKEY:apiKeyCredentials/RAX-AUTH/reset`,
        { token: owner.token },
      );
      assert.equal(reset.status, 200, reset.text);
      const newKey = (reset.body['RAX-KSKEY:apiKeyCredentials'] as { apiKey: string }).apiKey;
      // Reference §6.7: a new key leaves existing tokens alone.
      assert.equal((await validate(byKey)).status, 200);
      const oldKey = await env.request('POST', '/v2.0/tokens', {
        body: { auth: { 'RAX-KSKEY:apiKeyCredentials': { username: owner.username, apiKey: owner.apiKey } } },
      });
      assert.equal(oldKey.status, 401);
      const byNewKey = await apiKeyToken(owner, newKey);
      await validateTwice(byNewKey);
      const remove = await env.request(
        'DELETE',
        `/v2.0/users/${owner.id}/OS-KSADM/credentials/RAX-KSKEY:apiKeyCredentials`,
        { token: owner.token },
      );
      assert.equal(remove.status, 204, remove.text);
      assert.equal((await validate(byNewKey)).status, 200);
    });

    test('MFA enabled, then disabled', async () => {
      const owner = await createAccount(env, admin);
      const byKey = await apiKeyToken(owner);
      await validateTwice(owner.token);
      await validateTwice(byKey);
      assert.equal(shownUser(await validate(byKey))['RAX-AUTH:multiFactorEnabled'], false);
      await enableOtp(env, owner);
      // The password-only token is gone; the API-key token shows the new state.
      assert.equal((await validate(owner.token)).status, 401);
      const enabled = await validate(byKey);
      assert.equal(enabled.status, 200, enabled.text);
      assert.equal(shownUser(enabled)['RAX-AUTH:multiFactorEnabled'], true);

      const disable = await env.request('PUT', `/v2.0/users/${owner.id}/RAX-AUTH/multi-factor`, {
        token: byKey,
        body: { 'RAX-AUTH:multiFactor': { enabled: false } },
      });
      assert.equal(disable.status, 204, disable.text);
      assert.equal(shownUser(await validate(byKey))['RAX-AUTH:multiFactorEnabled'], false);
    });

    test('account policy changed to REQUIRED', async () => {
      const owner = await createAccount(env, admin);
      const member = await createUserVia(env, owner);
      const byKey = await apiKeyToken(member);
      await validateTwice(member.token);
      await validateTwice(byKey);
      const put = await env.request('PUT', `/v2.0/RAX-AUTH/domains/${owner.domainId}/multi-factor`, {
        token: admin.token,
        body: { 'RAX-AUTH:multiFactorDomain': { domainMultiFactorEnforcementLevel: 'REQUIRED' } },
      });
      assert.equal(put.status, 204, put.text);
      assert.equal((await validate(member.token)).status, 401);
      // API-key logins skip MFA, so their tokens survive the policy.
      assert.equal((await validate(byKey)).status, 200);
    });

    test('user-level REQUIRED', async () => {
      const owner = await createAccount(env, admin);
      const member = await createUserVia(env, owner);
      await validateTwice(member.token);
      const put = await env.request('PUT', `/v2.0/users/${member.id}/RAX-AUTH/multi-factor`, {
        token: owner.token,
        body: { 'RAX-AUTH:multiFactor': { userMultiFactorEnforcementLevel: 'REQUIRED' } },
      });
      assert.equal(put.status, 204, put.text);
      assert.equal((await validate(member.token)).status, 401);
    });

    test('a validation racing a revocation is not answered from memory afterwards', async () => {
      const owner = await createAccount(env, admin);
      const tokenRow = await resolveToken(env.deps, owner.token);
      assert.ok(tokenRow);
      // Revoke it and validate it at once: the validation's read may run before the write, but
      // what it read must not be kept for the next request.
      const pending = resolveToken(env.deps, owner.token);
      const revoke = env.deps.db
        .updateTable('tokens')
        .set({ revoked_at: env.clock.now() })
        .where('hash', '=', tokenRow.token.hash)
        .execute();
      await Promise.all([pending, revoke]);
      assert.equal(await resolveToken(env.deps, owner.token), undefined);
      assert.equal((await validate(owner.token)).status, 401);
    });

    // Last: it moves the clock past every token issued so far.
    test('expiry', async () => {
      const owner = await createAccount(env, admin);
      await validateTwice(owner.token);
      env.clock.advance(env.deps.config.tokenTtlSeconds * 1000 - 1);
      assert.equal((await validate(owner.token)).status, 200);
      env.clock.advance(1);
      assert.equal((await validate(owner.token)).status, 401);
    });
  });

  describe(`writes that cannot change a validation leave it remembered (${dialect})`, () => {
    let env: TestEnv;
    let admin: TestUser;
    let watched: TestUser[];
    let others: TestUser[];
    let withMfa: TestUser;
    before(async () => {
      env = await createTestEnv({ dialect });
      admin = await createAdmin(env);
      const owner = await createAccount(env, admin);
      watched = [owner, await createUserVia(env, owner), await createUserVia(env, owner)];
      others = [await createUserVia(env, owner), await createUserVia(env, owner)];
      withMfa = await createUserVia(env, owner);
      await enableOtp(env, withMfa);
    });
    after(() => env.close());

    async function validateAll(users: TestUser[]): Promise<number> {
      const before = tokenValidationStats(env.deps.store).storeReads;
      for (const user of users) {
        // PostgreSQL: the cache answers while the feed of every instance's writes is current.
        await env.deps.store.writeListener?.ready();
        const shown = await env.request('GET', `/v2.0/tokens/${user.token}`, { token: user.token });
        assert.equal(shown.status, 200, shown.text);
      }
      return tokenValidationStats(env.deps.store).storeReads - before;
    }

    /** Reads once the answer could be remembered: none, on either store. */
    const expectedReads = (_validations: number) => 0;

    test('API-key logins, events, MFA sessions and another user’s attempt counter', async () => {
      await validateAll(watched);
      assert.equal(await validateAll(watched), expectedReads(watched.length), 'not remembered at all');

      for (let round = 0; round < 3; round++) {
        for (const other of others) {
          const login = await env.request('POST', '/v2.0/tokens', {
            body: {
              auth: { 'RAX-KSKEY:apiKeyCredentials': { username: other.username, apiKey: other.apiKey } },
            },
          });
          assert.equal(login.status, 200, login.text);
        }
        await recordEvent(env.deps.db, env.clock.now(), { type: 'login.failed', detail: { round } });
        assert.equal((await passwordLogin(env, others[0]?.username ?? '', 'Wrongpass1')).status, 401);
        // Step 1 stores an MFA session; a wrong passcode counts an attempt on that user's row.
        const { sessionId } = await startMfaLogin(env, withMfa);
        assert.equal((await sendPasscode(env, sessionId, '000000')).status, 401);
      }

      assert.equal(await validateAll(watched), expectedReads(watched.length));
      assert.ok(tokenValidationStats(env.deps.store).remembered >= watched.length);
    });

    test('a write to one user’s row makes only that user’s tokens read again', async () => {
      await validateAll(watched);
      const [first] = watched;
      assert.ok(first);
      await env.deps.db
        .updateTable('users')
        .set({ email: 'new@example.com' })
        .where('id', '=', first.id)
        .execute();
      assert.equal(await validateAll(watched), 1);
    });
  });
}

describe('the remembered validations', () => {
  const user = { id: 'u1', domain_id: 'd1' } as UserRow;
  const entry = (hash: string, owner = user) => ({
    token: { hash, user_id: owner.id } as TokenRow,
    user: owner,
  });

  test('nothing read while a transaction of this process is open is remembered', () => {
    const cache = new ValidationCache(10);
    const before = cache.ticket();
    cache.apply({ kind: 'transaction', open: true });
    assert.equal(cache.remember(before, 'a', entry('h1')), false, 'read before it began');
    assert.equal(cache.remember(cache.ticket(), 'a', entry('h1')), false, 'read while it is open');
    const during = cache.ticket();
    cache.apply({ kind: 'transaction', open: false });
    assert.equal(cache.remember(during, 'a', entry('h1')), false, 'read across its commit');
    assert.equal(cache.remember(cache.ticket(), 'a', entry('h1')), true, 'read after it');
  });

  test('an answer read across a write that may change it is refused', () => {
    const cache = new ValidationCache(10);
    const ticket = cache.ticket();
    cache.apply({ kind: 'rows', table: 'users', keys: new Map([['id', ['someone-else']]]) });
    assert.equal(cache.remember(ticket, 'a', entry('h1')), false);
    assert.equal(cache.get('a'), undefined);
    assert.equal(cache.remember(cache.ticket(), 'a', entry('h1')), true);
    assert.ok(cache.get('a'));
  });

  test('inserts and writes to other tables neither drop entries nor refuse answers', () => {
    const cache = new ValidationCache(10);
    const ticket = cache.ticket();
    cache.apply({ kind: 'insert', table: 'tokens' });
    cache.apply({ kind: 'rows', table: 'security_events', keys: null });
    cache.apply({ kind: 'rows', table: 'mfa_sessions', keys: null });
    assert.equal(cache.remember(ticket, 'a', entry('h1')), true);
    cache.apply({ kind: 'insert', table: 'users' });
    cache.apply({ kind: 'rows', table: 'one_time_codes', keys: null });
    assert.ok(cache.get('a'));
  });

  test('a write is matched to the entries it may change, or drops them all', () => {
    const other = { id: 'u2', domain_id: 'd2' } as UserRow;
    const fill = () => {
      const cache = new ValidationCache(10);
      cache.remember(cache.ticket(), 'a', entry('h1'));
      cache.remember(cache.ticket(), 'b', entry('h2'));
      cache.remember(cache.ticket(), 'c', entry('h3', other));
      return cache;
    };
    const left = (cache: ValidationCache) => ['a', 'b', 'c'].filter((digest) => cache.get(digest));
    const cases: [Parameters<ValidationCache['apply']>[0], string[]][] = [
      [{ kind: 'rows', table: 'tokens', keys: new Map([['hash', ['h1']]]) }, ['b', 'c']],
      [{ kind: 'rows', table: 'tokens', keys: new Map([['user_id', ['u1']]]) }, ['c']],
      [{ kind: 'rows', table: 'tokens', keys: new Map([['expires_at', [1]]]) }, []],
      [{ kind: 'rows', table: 'tokens', keys: null }, []],
      [{ kind: 'rows', table: 'users', keys: new Map([['id', ['u2']]]) }, ['a', 'b']],
      [{ kind: 'rows', table: 'users', keys: new Map([['username_key', ['x']]]) }, []],
      [{ kind: 'rows', table: 'domains', keys: new Map([['id', ['d1']]]) }, ['c']],
      [{ kind: 'rows', table: 'domains', keys: null }, []],
      [{ kind: 'unknown' }, []],
    ];
    for (const [write, expected] of cases) {
      const cache = fill();
      cache.apply(write);
      assert.deepEqual(
        left(cache),
        expected,
        JSON.stringify(write, (_k, v) => (v instanceof Map ? [...v] : v)),
      );
    }
  });

  test('it holds at most its capacity, dropping the oldest', () => {
    const cache = new ValidationCache(2);
    for (const digest of ['a', 'b', 'c']) cache.remember(cache.ticket(), digest, entry(`h-${digest}`));
    assert.equal(cache.size, 2);
    assert.equal(cache.get('a'), undefined);
  });
});

describe('the embedded store announces every write', async () => {
  let env: TestEnv;
  before(async () => {
    env = await createTestEnv({ dialect: 'sqlite' });
  });
  after(() => env.close());

  test('statements are described by the rows they may change', () => {
    const { db } = env.deps;
    const describe = (query: { toOperationNode(): Parameters<typeof describeWrites>[0] }) =>
      JSON.parse(
        JSON.stringify(describeWrites(query.toOperationNode()), (_key, value) =>
          value instanceof Map ? Object.fromEntries(value) : value,
        ),
      ) as unknown;
    assert.deepEqual(describe(db.selectFrom('users').selectAll().where('id', '=', 'u1')), []);
    assert.deepEqual(describe(sql`select 1`), []);
    assert.deepEqual(describe(db.insertInto('security_events').values({ at: 1, type: 't', detail: '{}' })), [
      { kind: 'insert', table: 'security_events' },
    ]);
    assert.deepEqual(
      describe(
        db
          .insertInto('one_time_codes')
          .values({ user_id: 'u1', purpose: 'p', code_hash: 'h', expires_at: 1, created_at: 1 })
          .onConflict((conflict) =>
            conflict.columns(['user_id', 'purpose']).doUpdateSet({ code_hash: 'h2' }),
          ),
      ),
      [{ kind: 'rows', table: 'one_time_codes', keys: null }],
    );
    assert.deepEqual(
      describe(db.updateTable('users').set({ email: 'e' }).where('id', '=', 'u1').where('enabled', '=', 1)),
      [{ kind: 'rows', table: 'users', keys: { id: ['u1'], enabled: [1] } }],
    );
    assert.deepEqual(
      describe(
        db
          .updateTable('tokens')
          .set({ revoked_at: 1 })
          .where('user_id', 'in', ['u1', 'u2'])
          .where('revoked_at', 'is', null),
      ),
      [{ kind: 'rows', table: 'tokens', keys: { user_id: ['u1', 'u2'] } }],
    );
    assert.deepEqual(
      describe(
        db
          .updateTable('tokens')
          .set({ revoked_at: 1 })
          .where((eb) => eb.or([eb('hash', '=', 'h1'), eb('user_id', '=', 'u1')])),
      ),
      [{ kind: 'rows', table: 'tokens', keys: null }],
    );
    assert.deepEqual(describe(db.deleteFrom('tokens').where('expires_at', '<', 5)), [
      { kind: 'rows', table: 'tokens', keys: null },
    ]);
    assert.deepEqual(
      describe(
        db
          .deleteFrom('users')
          .where('domain_id', 'in', db.selectFrom('domains').select('id').where('enabled', '=', 0)),
      ),
      [{ kind: 'rows', table: 'users', keys: null }],
    );
    // A write hidden in a CTE (PostgreSQL's data-modifying WITH) is a write of unknown reach.
    assert.deepEqual(
      describe(
        db
          .with('revoked', (query) =>
            query.updateTable('tokens').set({ revoked_at: 1 }).where('hash', '=', 'h1').returning('hash'),
          )
          .selectFrom('revoked')
          .selectAll(),
      ),
      [{ kind: 'unknown' }],
    );
    assert.deepEqual(
      describe(
        db
          .with('recent', (query) => query.selectFrom('tokens').select('user_id').where('created_at', '>', 1))
          .selectFrom('users')
          .selectAll()
          .where('id', 'in', (eb) => eb.selectFrom('recent').select('user_id')),
      ),
      [],
    );
    assert.deepEqual(describe(sql`update users set role = 'x'`), [{ kind: 'unknown' }]);
    assert.deepEqual(describe(db.schema.dropTable('x')), [{ kind: 'unknown' }]);
  });

  test('a query compiled by hand counts as an unknown write', async () => {
    const owner = await createAdmin(env);
    assert.ok(await resolveToken(env.deps, owner.token));
    assert.ok(tokenValidationStats(env.deps.store).remembered > 0);
    const compiled = sql`select 1`.compile(env.deps.db);
    await env.deps.db.executeQuery({ ...compiled, queryId: { queryId: 'made by hand' } });
    assert.equal(tokenValidationStats(env.deps.store).remembered, 0);
  });

  test('no trigger, and the only cascade into users, domains or tokens starts from users', async () => {
    const { db } = env.deps;
    const triggers = await sql<{
      name: string;
    }>`select name from sqlite_master where type = 'trigger'`.execute(db);
    assert.deepEqual(triggers.rows, []);
    const actions: string[] = [];
    for (const table of ['users', 'domains', 'tokens']) {
      const keys = await sql<{ from: string; table: string; on_update: string; on_delete: string }>`
        select "from", "table", on_update, on_delete from pragma_foreign_key_list(${table})`.execute(db);
      for (const key of keys.rows) {
        for (const [event, action] of [
          ['update', key.on_update],
          ['delete', key.on_delete],
        ]) {
          if (action !== 'NO ACTION' && action !== 'RESTRICT')
            actions.push(`${table}.${key.from} on ${event} of ${key.table}: ${action}`);
        }
      }
    }
    assert.deepEqual(actions, ['tokens.user_id on delete of users: CASCADE']);
  });
});
