import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Messages } from '../src/errors.js';
import { insertUser } from '../src/identity/users.js';
import {
  createAccount,
  createAdmin,
  createTestEnv,
  createUserVia,
  dialects,
  PASSWORD,
  setRole,
  type TestEnv,
  type TestUser,
  uniqueName,
} from './support/harness.js';

/**
 * Validation is answered from memory on the embedded store (nothing else writes to it), so every
 * change that ends or alters a token must still show on the very next request, on both stores.
 */
for (const dialect of dialects()) {
  describe(`token validation after a change (${dialect})`, () => {
    let env: TestEnv;
    let admin: TestUser;
    before(async () => {
      env = await createTestEnv({ dialect });
      admin = await createAdmin(env);
    });
    after(() => env.close());

    /** Validate a few times, so a remembering store has surely remembered it. */
    async function validateTwice(user: TestUser): Promise<void> {
      for (let i = 0; i < 2; i++) {
        const shown = await env.request('GET', `/v2.0/tokens/${user.token}`, { token: user.token });
        assert.equal(shown.status, 200, shown.text);
      }
    }

    test('a revoked token fails on the next request', async () => {
      const owner = await createAccount(env, admin);
      await validateTwice(owner);
      const revoke = await env.request('DELETE', `/v2.0/tokens/${owner.token}`, { token: admin.token });
      assert.equal(revoke.status, 204, revoke.text);
      const own = await env.request('GET', `/v2.0/tokens/${owner.token}`, { token: owner.token });
      assert.equal(own.status, 401);
      const byAdmin = await env.request('GET', `/v2.0/tokens/${owner.token}`, { token: admin.token });
      assert.equal(byAdmin.status, 404);
      assert.equal(byAdmin.body.itemNotFound?.message, Messages.tokenNotFound);
    });

    test('a disabled user is refused on the next request', async () => {
      const owner = await createAccount(env, admin);
      const member = await createUserVia(env, owner);
      await validateTwice(member);
      const disable = await env.request('POST', `/v2.0/users/${member.id}`, {
        token: owner.token,
        body: { user: { enabled: false } },
      });
      assert.equal(disable.status, 200, disable.text);
      const shown = await env.request('GET', `/v2.0/tokens/${member.token}`, { token: member.token });
      assert.ok(shown.status === 401 || shown.status === 403, shown.text);
    });

    test('a new role shows in the next validation', async () => {
      const owner = await createAccount(env, admin);
      const member = await createUserVia(env, owner);
      await validateTwice(member);
      await setRole(env, member, 'identity:user-manage');
      const shown = await env.request('GET', `/v2.0/tokens/${member.token}`, { token: member.token });
      assert.equal(shown.status, 200, shown.text);
      const user = shown.body.access?.user as { roles: { name: string }[] } | undefined;
      const roles = (user?.roles ?? []).map((role) => role.name);
      assert.ok(roles.includes('identity:user-manage'), JSON.stringify(roles));
    });

    test('a password-only token stops working the moment the domain requires MFA', async () => {
      const owner = await createAccount(env, admin);
      const member = await createUserVia(env, owner);
      await validateTwice(member);
      const put = await env.request('PUT', `/v2.0/RAX-AUTH/domains/${owner.domainId}/multi-factor`, {
        token: admin.token,
        body: { 'RAX-AUTH:multiFactorDomain': { domainMultiFactorEnforcementLevel: 'REQUIRED' } },
      });
      assert.equal(put.status, 204, put.text);
      const shown = await env.request('GET', `/v2.0/tokens/${member.token}`, { token: member.token });
      assert.equal(shown.status, 401);
    });

    // Last: it moves the clock past every token issued so far.
    test('a token expires on time even when it was just validated', async () => {
      const owner = await createAccount(env, admin);
      await validateTwice(owner);
      env.clock.advance(env.deps.config.tokenTtlSeconds * 1000 + 1);
      const shown = await env.request('GET', `/v2.0/tokens/${owner.token}`, { token: owner.token });
      assert.equal(shown.status, 401);
    });
  });

  describe(`store write generation (${dialect})`, () => {
    let env: TestEnv;
    before(async () => {
      env = await createTestEnv({ dialect });
    });
    after(() => env.close());

    test(
      dialect === 'sqlite'
        ? 'every write moves it, reads do not'
        : 'is absent: other instances write to the same database',
      async () => {
        const { store, db } = env.deps;
        if (dialect === 'postgres') {
          assert.equal(store.writeGeneration, undefined);
          return;
        }
        const generation = () => store.writeGeneration?.() ?? Number.NaN;
        const user = await insertUser(
          env.deps,
          { userId: null, source: 'test' },
          {
            username: uniqueName('gen'),
            password: PASSWORD,
            role: 'identity:default',
            domainId: null,
            defaultRegion: '',
          },
        );
        const afterInsert = generation();
        await db.selectFrom('users').selectAll().where('id', '=', user.id).execute();
        assert.equal(generation(), afterInsert, 'a read moved it');
        await db.updateTable('users').set({ email: 'a@example.com' }).where('id', '=', user.id).execute();
        const afterUpdate = generation();
        assert.ok(afterUpdate > afterInsert, 'an update did not move it');
        // UPDATE ... RETURNING reads rows back yet writes all the same.
        await db
          .updateTable('users')
          .set({ email: 'b@example.com' })
          .where('id', '=', user.id)
          .returning('id')
          .execute();
        assert.ok(generation() > afterUpdate, 'an UPDATE ... RETURNING did not move it');
        const beforeDelete = generation();
        await db.deleteFrom('tokens').where('user_id', '=', user.id).execute();
        assert.ok(generation() > beforeDelete, 'a delete did not move it');
      },
    );
  });
}
