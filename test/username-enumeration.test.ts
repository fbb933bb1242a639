import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { AuthorizationMessages } from '../src/access/caller.js';
import { assertFault } from './support/api.js';
import {
  createAccount,
  createAdmin,
  createTestEnv,
  createUserVia,
  dialects,
  type TestEnv,
  type TestUser,
  uniqueName,
} from './support/harness.js';

for (const dialect of dialects()) {
  describe(`a username change tells no one which usernames other accounts hold (${dialect})`, () => {
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

    const rename = (caller: TestUser, target: TestUser, username: string) =>
      env.request('POST', `/v2.0/users/${target.id}`, { token: caller.token, body: { user: { username } } });

    test('regression: renaming oneself to a username of another account answered 409', async () => {
      const taken = await rename(member, member, stranger.username);
      const free = await rename(member, member, uniqueName('free'));
      for (const response of [taken, free]) {
        assertFault(response, 403, 'forbidden', AuthorizationMessages.ownUsername);
      }
      assert.deepEqual(taken.body, free.body, 'a taken name and a free one answer alike');
      const shown = await env.request('GET', `/v2.0/users/${member.id}`, { token: member.token });
      assert.equal((shown.body.user as { username: string }).username, member.username);
    });

    test('the same request that changes nothing else still works for the user', async () => {
      const response = await env.request('POST', `/v2.0/users/${member.id}`, {
        token: member.token,
        body: { user: { username: member.username, email: 'member@example.org' } },
      });
      assert.equal(response.status, 200, response.text);
    });

    test('whoever may create users keeps the reference 409 (creation answers it already)', async () => {
      assertFault(await rename(owner, member, stranger.username), 409, 'badRequest');
      assertFault(await rename(owner, owner, stranger.username), 409, 'badRequest');
      const created = await env.request('POST', '/v2.0/users', {
        token: owner.token,
        body: { user: { username: stranger.username } },
      });
      assertFault(created, 409, 'badRequest');
      const renamed = uniqueName('renamed');
      assert.equal((await rename(owner, member, renamed)).status, 200);
      member.username = renamed;
    });
  });
}
