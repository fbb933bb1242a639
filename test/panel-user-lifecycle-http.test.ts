import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { PASSWORD_POLICY_MESSAGE } from '../src/identity/passwords.js';
import {
  createAccount,
  createTestEnv,
  createUserVia,
  type TestEnv,
  type TestUser,
} from './support/harness.js';
import { assertErrorPage, PanelClient } from './support/panel-client.js';

/** A field's error as the form shows it: the text in the element tied to the input. */
const fieldError = (body: string, name: string): string | undefined =>
  new RegExp(`id="field-${name}-error"[^>]*>([^<]*)<`).exec(body)?.[1];

describe('control panel: the refusals of the user lifecycle forms', () => {
  let env: TestEnv;
  let owner: TestUser;
  let member: TestUser;
  let panel: PanelClient;

  before(async () => {
    env = await createTestEnv({ env: { LATCHKEY_PASSWORD_HISTORY: '3' } });
    owner = await createAccount(env);
    member = await createUserVia(env, owner, 'member');
    panel = await PanelClient.signedIn(env, owner);
  });
  after(() => env.close());

  test('a wrong current password is refused on its field, counted as a failed login, and changes nothing', async () => {
    await panel.get('/profile/password');
    const response = await panel.post('/profile/password', {
      current: 'Wrong-password-1',
      password: 'Another-password-2',
      confirm: 'Another-password-2',
    });
    assert.equal(response.status, 401);
    assert.equal(fieldError(response.body, 'current'), 'The password is incorrect.');
    const failed = await env.deps.db
      .selectFrom('security_events')
      .select('id')
      .where('user_id', '=', owner.id)
      .where('type', '=', 'login.failed')
      .execute();
    assert.ok(failed.length >= 1, 'the wrong password is a failed login');
    const login = await env.request('POST', '/v2.0/tokens', {
      body: { auth: { passwordCredentials: { username: owner.username, password: owner.password } } },
    });
    assert.equal(login.status, 200, 'the password is unchanged');
  });

  test('a weak new password gets the policy, and two different new passwords are refused before it', async () => {
    await panel.get('/profile/password');
    const weak = await panel.post('/profile/password', {
      current: owner.password,
      password: 'weak',
      confirm: 'weak',
    });
    assert.equal(weak.status, 400);
    assert.equal(fieldError(weak.body, 'password'), PASSWORD_POLICY_MESSAGE);
    const differ = await panel.post('/profile/password', {
      current: owner.password,
      password: 'Another-password-2',
      confirm: 'Another-password-3',
    });
    assert.equal(differ.status, 400);
    assert.match(fieldError(differ.body, 'confirm') ?? '', /differ/);
    const same = await panel.post('/profile/password', {
      current: owner.password,
      password: owner.password,
      confirm: owner.password,
    });
    assert.equal(same.status, 400, 'the history refuses the current password');
    assert.match(fieldError(same.body, 'password') ?? '', /cannot be identical to a previous password/);
  });

  test('a role the owner does not give is refused (403) and creates no one', async () => {
    await panel.get(`/admin/accounts/${owner.domainId}/users/new`);
    const response = await panel.post(`/admin/accounts/${owner.domainId}/users/new`, {
      username: 'would-be-admin',
      role: 'identity:admin',
      enabled: 'yes',
    });
    assert.equal(response.status, 403);
    assert.match(response.body, /You may not give this role\./);
    const row = await env.deps.db
      .selectFrom('users')
      .select('id')
      .where('username', '=', 'would-be-admin')
      .executeTakeFirst();
    assert.equal(row, undefined);

    await panel.get(`/admin/accounts/${owner.domainId}/users/${member.id}/edit`);
    const edit = await panel.post(`/admin/accounts/${owner.domainId}/users/${member.id}/edit`, {
      email: 'member@example.com',
      role: 'identity:user-admin',
    });
    assert.equal(edit.status, 403);
    assert.match(edit.body, /You may not give this role\./);
  });

  test('each new form refuses a post without its CSRF token', async () => {
    const posts: [string, Record<string, string>][] = [
      [
        '/profile/password',
        { current: owner.password, password: 'Another-password-2', confirm: 'Another-password-2' },
      ],
      ['/profile/api-key', { password: owner.password }],
      ['/profile/api-key/reset', { password: owner.password }],
      [`/admin/accounts/${owner.domainId}/users/new`, { username: 'no-token', role: 'identity:default' }],
      [`/admin/accounts/${owner.domainId}/users/${member.id}/edit`, { email: 'x@example.com' }],
      [`/admin/accounts/${owner.domainId}/users/${member.id}/delete`, {}],
    ];
    for (const [url, fields] of posts) {
      const response = await panel.post(url, `${new URLSearchParams(fields).toString()}`, {}, { raw: true });
      assert.equal(response.status, 403, url);
      assert.match(response.body, /This form has expired/, url);
    }
    assert.ok(
      await env.deps.db.selectFrom('users').select('id').where('id', '=', member.id).executeTakeFirst(),
    );
  });

  test('an account owner reaches no user of another account: each page and post is a 404', async () => {
    const otherOwner = await createAccount(env);
    const stranger = await createUserVia(env, otherOwner, 'stranger');
    const base = `/admin/accounts/${owner.domainId}/users/${stranger.id}`;
    for (const path of ['', '/edit', '/delete']) assertErrorPage(await panel.get(`${base}${path}`), 404);
    await panel.get('/profile');
    assertErrorPage(await panel.post(`${base}/edit`, { email: 'taken@example.com', enabled: 'yes' }), 404);
    assertErrorPage(await panel.post(`${base}/delete`, {}), 404);
    const row = await env.deps.db
      .selectFrom('users')
      .selectAll()
      .where('id', '=', stranger.id)
      .executeTakeFirst();
    assert.equal(row?.email, `${stranger.username}@example.com`);
  });

  test('the API key is shown only after the password, and a wrong one shows nothing', async () => {
    await panel.get('/profile/api-key');
    const wrong = await panel.post('/profile/api-key', { password: 'Wrong-password-1' });
    assert.equal(wrong.status, 401);
    assert.equal(wrong.body.includes(owner.apiKey), false);
    const right = await panel.post('/profile/api-key', { password: owner.password });
    assert.equal(right.status, 200);
    assert.ok(right.body.includes(owner.apiKey));
  });
});
