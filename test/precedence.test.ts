import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { insertUser } from '../src/identity/users.js';
import { apiKeyPath, assertFault, createUserManager, tokenOf } from './support/api.js';
import {
  createAccount,
  createTestEnv,
  createUserVia,
  dialects,
  PASSWORD,
  passwordLogin,
  setRole,
  type TestEnv,
  type TestUser,
  uniqueName,
} from './support/harness.js';

/**
 * Who may act on whom (reference §3.2, §6.3, §6.6), one row per acting role and one column per
 * target. "same"/"other" is the target's domain relative to the account the domain-bound roles
 * belong to; service and identity administrators have no domain.
 */
const ACTORS = ['service-admin', 'admin', 'user-admin', 'user-manage', 'default'] as const;
type Actor = (typeof ACTORS)[number];

const TARGETS = [
  'self',
  'service-admin',
  'admin',
  'user-admin same',
  'user-manage same',
  'default same',
  'user-admin other',
  'user-manage other',
  'default other',
] as const;
type Target = (typeof TARGETS)[number];

type Operation = 'get user' | 'update user' | 'delete user' | 'read API key';

/** One character per target, in TARGETS order: Y allowed, n forbidden (403). */
type Row = string;

/** §3.2: self always; a strictly lower weight (user-manage also over user-manage); domain-bound roles in their domain. */
const PRECEDENCE: Record<Actor, Row> = {
  'service-admin': 'YnYYYYYYY',
  admin: 'YnnYYYYYY',
  'user-admin': 'YnnnYYnnn',
  'user-manage': 'YnnnYYnnn',
  default: 'Ynnnnnnnn',
};

const EXPECTED: Record<Operation, Record<Actor, Row>> = {
  // §6.3: account managers read every user of their own domain, the owner included.
  'get user': {
    ...PRECEDENCE,
    'user-admin': 'YnnYYYnnn',
    'user-manage': 'YnnYYYnnn',
  },
  'update user': PRECEDENCE,
  'read API key': PRECEDENCE,
  // §6.6: as precedence, except that an account owner may not delete itself.
  'delete user': { ...PRECEDENCE, 'user-admin': 'nnnnYYnnn' },
};

for (const dialect of dialects()) {
  describe(`precedence matrix (${dialect})`, () => {
    let env: TestEnv;
    let ownerOne: TestUser;
    let ownerTwo: TestUser;
    const actors = new Map<Actor, TestUser>();
    const shared = new Map<Target, TestUser>();

    async function privileged(role: 'identity:service-admin' | 'identity:admin'): Promise<TestUser> {
      const username = uniqueName(role === 'identity:admin' ? 'admin' : 'service');
      const row = await insertUser(
        env.deps,
        { userId: null, source: 'test' },
        { username, password: PASSWORD, role, domainId: null, defaultRegion: '' },
      );
      const token = tokenOf(await passwordLogin(env, username));
      return { id: row.id, username, password: PASSWORD, token, apiKey: '', domainId: null };
    }

    /** A new user in the role and place a column names (never "self"). */
    async function make(target: Exclude<Target, 'self'>): Promise<TestUser> {
      const owner = target.endsWith('other') ? ownerTwo : ownerOne;
      switch (target) {
        case 'service-admin':
          return privileged('identity:service-admin');
        case 'admin':
          return privileged('identity:admin');
        case 'user-admin same':
        case 'user-admin other': {
          // A second account owner in the domain: equal weight, so no precedence either way.
          const user = await createUserVia(env, owner, 'owner');
          await setRole(env, user, 'identity:user-admin');
          return user;
        }
        case 'user-manage same':
        case 'user-manage other':
          return createUserManager(env, owner);
        case 'default same':
        case 'default other':
          return createUserVia(env, owner, 'sub');
      }
    }

    async function makeActor(actor: Actor): Promise<TestUser> {
      switch (actor) {
        case 'service-admin':
          return privileged('identity:service-admin');
        case 'admin':
          return privileged('identity:admin');
        case 'user-admin':
          return ownerOne;
        case 'user-manage':
          return createUserManager(env, ownerOne);
        case 'default':
          return createUserVia(env, ownerOne, 'sub');
      }
    }

    before(async () => {
      env = await createTestEnv({ dialect });
      const admin = await privileged('identity:admin');
      ownerOne = await createAccount(env, admin);
      ownerTwo = await createAccount(env, admin);
      for (const actor of ACTORS) actors.set(actor, await makeActor(actor));
      for (const target of TARGETS) if (target !== 'self') shared.set(target, await make(target));
    });
    after(() => env.close());

    const perform = (operation: Operation, caller: TestUser, target: TestUser) => {
      switch (operation) {
        case 'get user':
          return env.request('GET', `/v2.0/users/${target.id}`, { token: caller.token });
        case 'update user':
          return env.request('POST', `/v2.0/users/${target.id}`, {
            token: caller.token,
            body: { user: { 'RAX-AUTH:defaultRegion': 'ORD' } },
          });
        case 'delete user':
          return env.request('DELETE', `/v2.0/users/${target.id}`, { token: caller.token });
        case 'read API key':
          return env.request('GET', apiKeyPath(target.id), { token: caller.token });
      }
    };

    for (const operation of Object.keys(EXPECTED) as Operation[]) {
      for (const actor of ACTORS) {
        TARGETS.forEach((target, column) => {
          const allowed = EXPECTED[operation][actor][column] === 'Y';
          test(`${operation}: ${actor} on ${target} → ${allowed ? 'allowed' : '403'}`, async () => {
            let caller = actors.get(actor);
            let subject = target === 'self' ? caller : shared.get(target);
            if (operation === 'delete user') {
              // Deletion consumes its target, so each case gets its own (and its own caller for self).
              if (target === 'self' && actor !== 'user-admin') caller = await makeActor(actor);
              subject = target === 'self' ? caller : await make(target);
            }
            assert.ok(caller && subject);
            const response = await perform(operation, caller, subject);
            if (!allowed) {
              assertFault(response, 403, 'forbidden');
              return;
            }
            assert.equal(response.status, operation === 'delete user' ? 204 : 200, response.text);
            if (operation === 'delete user') {
              const gone = await env.deps.db
                .selectFrom('users')
                .select('id')
                .where('id', '=', subject.id)
                .executeTakeFirst();
              assert.equal(gone, undefined);
            }
          });
        });
      }
    }

    test('a refused operation leaves its target untouched', async () => {
      const sub = await createUserVia(env, ownerOne, 'sub');
      const caller = actors.get('default');
      assert.ok(caller);
      const beforehand = await env.request('GET', `/v2.0/users/${sub.id}`, { token: sub.token });
      assertFault(await perform('delete user', caller, sub), 403, 'forbidden', 'Not Authorized');
      assertFault(await perform('update user', caller, sub), 403, 'forbidden', 'Not Authorized');
      const afterward = await env.request('GET', `/v2.0/users/${sub.id}`, { token: sub.token });
      assert.equal(afterward.status, 200);
      assert.deepEqual(afterward.body, beforehand.body);
    });
  });
}
