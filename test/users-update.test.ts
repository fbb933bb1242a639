import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Messages } from '../src/core/errors.js';
import { PASSWORD_POLICY_MESSAGE } from '../src/identity/passwords.js';
import { accessOf, apiKeyLogin, assertFault, tokenOf, userOf } from './support/api.js';
import {
  createAccount,
  createAdmin,
  createTestEnv,
  createUserVia,
  dialects,
  PASSWORD,
  passwordLogin,
  type TestEnv,
  type TestUser,
  uniqueName,
} from './support/harness.js';

/** Changing and deleting users: POST and DELETE /v2.0/users/{id}. */
for (const dialect of dialects()) {
  describe(`POST /v2.0/users/{id}: update (${dialect})`, () => {
    let env: TestEnv;
    let admin: TestUser;
    let owner: TestUser;
    before(async () => {
      env = await createTestEnv({ dialect });
      admin = await createAdmin(env);
      owner = await createAccount(env, admin);
    });
    after(() => env.close());

    const update = (token: string, id: string, user: Record<string, unknown>) =>
      env.request('POST', `/v2.0/users/${id}`, { token, body: { user } });
    const alive = async (token: string) =>
      (await env.request('GET', `/v2.0/tokens/${token}`, { token })).status === 200;

    test('an account owner changes a sub-user’s username, email and default region', async () => {
      const sub = await createUserVia(env, owner, 'sub');
      env.clock.advance(1000);
      const username = uniqueName('renamed');
      const response = await update(owner.token, sub.id, {
        username,
        email: `${username}@example.org`,
        'RAX-AUTH:defaultRegion': 'ORD',
      });
      assert.equal(response.status, 200, response.text);
      const user = userOf(response);
      assert.equal(user.username, username);
      assert.equal(user.email, `${username}@example.org`);
      assert.equal(user['RAX-AUTH:defaultRegion'], 'ORD');
      assert.equal(user.updated, new Date(env.clock.now()).toISOString());
      assert.notEqual(user.created, user.updated);
      // Renaming is not a credential change: the token lives on, and the new name logs in.
      assert.equal(await alive(sub.token), true);
      accessOf(await passwordLogin(env, username));
      assertFault(await passwordLogin(env, sub.username), 401, 'unauthorized', Messages.badPassword);
    });

    test('renaming to a taken name is 409; invalid values are 400 with the reference messages', async () => {
      const sub = await createUserVia(env, owner, 'sub');
      assertFault(
        await update(owner.token, sub.id, { username: owner.username.toUpperCase() }),
        409,
        'badRequest',
      );
      assertFault(
        await update(owner.token, sub.id, { username: '9lives' }),
        400,
        'badRequest',
        'Username has invalid characters.',
      );
      assertFault(
        await update(owner.token, sub.id, { email: 'nope' }),
        400,
        'badRequest',
        'Expecting valid email address',
      );
      assertFault(
        await update(owner.token, sub.id, { 'OS-KSADM:password': 'weak' }),
        400,
        'badRequest',
        PASSWORD_POLICY_MESSAGE,
      );
      assert.equal(await alive(sub.token), true, 'a refused password change revokes nothing');
      // A change of case of one's own name is allowed.
      const recased = await update(owner.token, sub.id, { username: sub.username.toUpperCase() });
      assert.equal(recased.status, 200, recased.text);
    });

    test('concurrent renames to one free name: one 200, the other 409, never a 500', async () => {
      const first = await createUserVia(env, owner, 'sub');
      const second = await createUserVia(env, owner, 'sub');
      const username = uniqueName('wanted');
      const responses = await Promise.all([
        update(owner.token, first.id, { username }),
        update(owner.token, second.id, { username: username.toUpperCase() }),
      ]);
      const statuses = responses.map((response) => response.status).sort();
      assert.deepEqual(statuses, [200, 409], responses.map((response) => response.text).join('\n'));
    });

    test('a self password change revokes every token of the user, the caller’s own included', async () => {
      const sub = await createUserVia(env, owner, 'sub');
      const second = tokenOf(await passwordLogin(env, sub.username));
      const byKey = tokenOf(await apiKeyLogin(env, sub.username, sub.apiKey));
      const response = await update(sub.token, sub.id, { 'OS-KSADM:password': 'Brandnew22' });
      assert.equal(response.status, 200, response.text);
      for (const token of [sub.token, second, byKey]) assert.equal(await alive(token), false);
      assertFault(await passwordLogin(env, sub.username), 401, 'unauthorized', Messages.badPassword);
      accessOf(await passwordLogin(env, sub.username, 'Brandnew22'));
    });

    test('a password change by an account owner revokes the user’s tokens, not the owner’s', async () => {
      const sub = await createUserVia(env, owner, 'sub');
      const other = await createUserVia(env, owner, 'sub');
      const response = await update(owner.token, sub.id, { 'OS-KSADM:password': 'Brandnew22' });
      assert.equal(response.status, 200, response.text);
      assert.equal(await alive(sub.token), false);
      assert.equal(await alive(owner.token), true);
      assert.equal(await alive(other.token), true);
    });

    test('disabling a user revokes its tokens; enabling lets it log in again', async () => {
      const sub = await createUserVia(env, owner, 'sub');
      const disabled = await update(owner.token, sub.id, { enabled: false });
      assert.equal(disabled.status, 200, disabled.text);
      assert.equal(userOf(disabled).enabled, false);
      assert.equal(await alive(sub.token), false);
      assertFault(
        await passwordLogin(env, sub.username),
        403,
        'userDisabled',
        `User '${sub.username}' is disabled.`,
      );
      const enabled = await update(owner.token, sub.id, { enabled: true });
      assert.equal(userOf(enabled).enabled, true);
      accessOf(await passwordLogin(env, sub.username));
    });

    test('users cannot change their own enabled flag', async () => {
      assertFault(await update(owner.token, owner.id, { enabled: false }), 403, 'forbidden');
      const sub = await createUserVia(env, owner, 'sub');
      assertFault(await update(sub.token, sub.id, { enabled: false }), 403, 'forbidden');
      assert.equal(await alive(sub.token), true);
      assert.equal(await alive(owner.token), true);
    });

    test('MFA attributes in the update body are ignored', async () => {
      const sub = await createUserVia(env, owner, 'sub');
      const response = await update(owner.token, sub.id, {
        'RAX-AUTH:multiFactorEnabled': true,
        'RAX-AUTH:factorType': 'SMS',
        'RAX-AUTH:userMultiFactorEnforcementLevel': 'REQUIRED',
        'RAX-AUTH:multiFactorState': 'LOCKED',
      });
      assert.equal(response.status, 200, response.text);
      const user = userOf(response);
      assert.equal(user['RAX-AUTH:multiFactorEnabled'], false);
      assert.equal(user['RAX-AUTH:userMultiFactorEnforcementLevel'], undefined);
      assert.equal(user['RAX-AUTH:multiFactorState'], undefined);
      accessOf(await passwordLogin(env, sub.username));
    });

    test('the domain of a user cannot be changed by update', async () => {
      const sub = await createUserVia(env, owner, 'sub');
      const response = await update(admin.token, sub.id, { 'RAX-AUTH:domainId': '1' });
      assert.equal(response.status, 200, response.text);
      assert.equal(userOf(response)['RAX-AUTH:domainId'], owner.domainId);
    });

    test('updating an unknown user is 404; a default user updating another is 403', async () => {
      assertFault(await update(admin.token, '0'.repeat(32), { email: 'a@example.com' }), 404, 'itemNotFound');
      const sub = await createUserVia(env, owner, 'sub');
      const sub2 = await createUserVia(env, owner, 'sub');
      assertFault(
        await update(sub.token, sub2.id, { email: 'a@example.com' }),
        403,
        'forbidden',
        'Not Authorized',
      );
    });
  });

  describe(`DELETE /v2.0/users/{id} (${dialect})`, () => {
    let env: TestEnv;
    let admin: TestUser;
    let owner: TestUser;
    before(async () => {
      env = await createTestEnv({ dialect });
      admin = await createAdmin(env);
      owner = await createAccount(env, admin);
    });
    after(() => env.close());

    test('an account owner deletes a sub-user: 204, its tokens and credentials are gone', async () => {
      const sub = await createUserVia(env, owner, 'sub');
      const response = await env.request('DELETE', `/v2.0/users/${sub.id}`, { token: owner.token });
      assert.equal(response.status, 204);
      assert.equal(response.text, '');
      assertFault(
        await env.request('GET', `/v2.0/tokens/${sub.token}`, { token: sub.token }),
        401,
        'unauthorized',
        Messages.noToken,
      );
      assertFault(
        await env.request('GET', `/v2.0/tokens/${sub.token}`, { token: admin.token }),
        404,
        'itemNotFound',
        'Token not found.',
      );
      assertFault(
        await env.request('GET', `/v2.0/users/${sub.id}`, { token: owner.token }),
        404,
        'itemNotFound',
      );
      assertFault(await passwordLogin(env, sub.username), 401, 'unauthorized', Messages.badPassword);
      assertFault(await apiKeyLogin(env, sub.username, sub.apiKey), 401, 'unauthorized', Messages.badApiKey);
      // The name is free again.
      const again = await env.request('POST', '/v2.0/users', {
        token: owner.token,
        body: { user: { username: sub.username, 'OS-KSADM:password': PASSWORD } },
      });
      assert.equal(again.status, 201, again.text);
    });

    test('an account owner cannot delete itself', async () => {
      assertFault(
        await env.request('DELETE', `/v2.0/users/${owner.id}`, { token: owner.token }),
        403,
        'forbidden',
      );
      assert.equal((await env.request('GET', `/v2.0/users/${owner.id}`, { token: owner.token })).status, 200);
    });

    test('a default user may delete itself but not another user', async () => {
      const sub = await createUserVia(env, owner, 'sub');
      const sub2 = await createUserVia(env, owner, 'sub');
      assertFault(
        await env.request('DELETE', `/v2.0/users/${sub2.id}`, { token: sub.token }),
        403,
        'forbidden',
        'Not Authorized',
      );
      assert.equal((await env.request('DELETE', `/v2.0/users/${sub.id}`, { token: sub.token })).status, 204);
    });

    test('deleting an unknown user is 404', async () => {
      assertFault(
        await env.request('DELETE', `/v2.0/users/${'0'.repeat(32)}`, { token: admin.token }),
        404,
        'itemNotFound',
      );
    });

    test('an administrator deletes an account owner', async () => {
      const account = await createAccount(env, admin);
      assert.equal(
        (await env.request('DELETE', `/v2.0/users/${account.id}`, { token: admin.token })).status,
        204,
      );
      assertFault(await passwordLogin(env, account.username), 401, 'unauthorized', Messages.badPassword);
    });
  });
}
