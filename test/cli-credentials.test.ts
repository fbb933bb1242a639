import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import {
  ADMIN,
  api,
  createUser,
  newHome,
  passwordToken,
  plain,
  runCli,
  type ServerProcess,
  startServer,
  terminal,
} from './support/cli.js';

describe('latchkey password change, api-key and users update, against a server process', () => {
  let server: ServerProcess;
  let adminToken: string;
  const homes: { cleanup(): void }[] = [];
  const home = () => {
    const created = newHome();
    homes.push(created);
    return { ...created, env: { ...created.env, LATCHKEY_URL: server.url } };
  };
  const loggedIn = async (username: string, password: string) => {
    const user = home();
    const login = await runCli(
      ['login', '--username', username, '--password-stdin'],
      user.env,
      `${password}\n`,
    );
    assert.equal(login.status, 0, login.stderr);
    return user;
  };
  const canLogIn = async (username: string, password: string) =>
    (
      await api(server.url, 'POST', '/v2.0/tokens', {
        body: { auth: { passwordCredentials: { username, password } } },
      })
    ).status === 200;

  before(async () => {
    server = await startServer({ LATCHKEY_PASSWORD_HISTORY: '3' });
    adminToken = await passwordToken(server.url, ADMIN.username, ADMIN.password);
  });
  after(async () => {
    await server?.stop();
    for (const created of homes) created.cleanup();
  });

  test('password change reads the current and the new password from stdin, then the old one stops working', async () => {
    await createUser(server.url, adminToken, 'pam', 'Pampass12');
    const pam = await loggedIn('pam', 'Pampass12');
    const changed = await runCli(
      ['password', 'change', '--password-stdin'],
      pam.env,
      'Pampass12\nPampass34\n',
    );
    assert.equal(changed.status, 0, changed.stderr);
    assert.match(changed.stdout, /Changed the password of pam/);
    assert.match(changed.stdout, /log in again/);
    assert.equal(await canLogIn('pam', 'Pampass12'), false);
    assert.equal(await canLogIn('pam', 'Pampass34'), true);
    // Every token was revoked: the cache went with it, and the CLI says so.
    const whoami = await runCli(['whoami'], pam.env);
    assert.equal(whoami.status, 3);
    assert.match(whoami.stderr, /not logged in/);
  });

  test('the policy and the history refuse a new password in the server words, and nothing changes', async () => {
    await createUser(server.url, adminToken, 'hal', 'Halpass12');
    let hal = await loggedIn('hal', 'Halpass12');
    const weak = await runCli(['password', 'change', '--password-stdin'], hal.env, 'Halpass12\nshort\n');
    assert.equal(weak.status, 1);
    assert.match(weak.stderr, /could not change the password: .*(8 characters|at least)/i);
    assert.equal(await canLogIn('hal', 'Halpass12'), true);

    const first = await runCli(['password', 'change', '--password-stdin'], hal.env, 'Halpass12\nHalpass34\n');
    assert.equal(first.status, 0, first.stderr);
    hal = await loggedIn('hal', 'Halpass34');
    const back = await runCli(['password', 'change', '--password-stdin'], hal.env, 'Halpass34\nHalpass12\n');
    assert.equal(back.status, 1);
    assert.match(back.stderr, /cannot be identical to a previous password/);
    assert.equal(await canLogIn('hal', 'Halpass34'), true);
  });

  test('a wrong current password is exit code 3; one line missing on stdin is a usage error', async () => {
    await createUser(server.url, adminToken, 'wes', 'Wespass12');
    const wes = await loggedIn('wes', 'Wespass12');
    const wrong = await runCli(['password', 'change', '--password-stdin'], wes.env, 'Nopass123\nWespass34\n');
    assert.equal(wrong.status, 3, wrong.stderr);
    assert.match(wrong.stderr, /the current password is wrong/);
    const short = await runCli(['password', 'change', '--password-stdin'], wes.env, 'Wespass12\n');
    assert.equal(short.status, 2);
    assert.match(short.stderr, /the new password expected on line 2/);
    assert.equal(await canLogIn('wes', 'Wespass12'), true);
  });

  test('on a terminal, password change asks the current password and the new one twice', async () => {
    await createUser(server.url, adminToken, 'tia', 'Tiapass12');
    const tia = await loggedIn('tia', 'Tiapass12');
    const session = terminal(['password', 'change'], tia.env);
    await session.expect(/Current password for tia:/);
    session.type('Tiapass12\r');
    await session.expect(/New password:/);
    session.type('Tiapass34\r');
    await session.expect(/New password again:/);
    session.type('Tiapass34\r');
    assert.equal(await session.exit, 0, plain(session.screen));
    assert.equal(await canLogIn('tia', 'Tiapass34'), true);
  });

  test('api-key show prints the key; reset asks unless --yes, and the old key stops logging in', async () => {
    await createUser(server.url, adminToken, 'kim', 'Kimpass12');
    const kim = await loggedIn('kim', 'Kimpass12');
    const shown = await runCli(['api-key', 'show'], kim.env);
    assert.equal(shown.status, 0, shown.stderr);
    const oldKey = shown.stdout.trim();
    assert.match(oldKey, /^[0-9a-f]{32}$/);
    assert.match(shown.stderr, /without MFA/);
    const keyLogin = (apiKey: string) =>
      api(server.url, 'POST', '/v2.0/tokens', {
        body: { auth: { 'RAX-KSKEY:apiKeyCredentials': { username: 'kim', apiKey } } },
      });
    assert.equal((await keyLogin(oldKey)).status, 200);

    const unconfirmed = await runCli(['api-key', 'reset'], kim.env);
    assert.equal(unconfirmed.status, 2, 'no terminal to confirm on: a usage error naming --yes');
    assert.match(unconfirmed.stderr, /--yes/);
    assert.equal((await keyLogin(oldKey)).status, 200, 'nothing was reset');

    const reset = await runCli(['api-key', 'reset', '--yes', '--json'], kim.env);
    assert.equal(reset.status, 0, reset.stderr);
    const newKey = (JSON.parse(reset.stdout) as { apiKey: string }).apiKey;
    assert.notEqual(newKey, oldKey);
    assert.equal((await keyLogin(oldKey)).status, 401);
    assert.equal((await keyLogin(newKey)).status, 200);

    // An administrator reads another user's key with --user.
    const admin = await loggedIn(ADMIN.username, ADMIN.password);
    const other = await runCli(['api-key', 'show', '--user', 'kim'], admin.env);
    assert.equal(other.status, 0, other.stderr);
    assert.equal(other.stdout.trim(), newKey);
  });

  test('users update changes the email and whether the user may log in', async () => {
    await createUser(server.url, adminToken, 'una', 'Unapass12');
    const admin = await loggedIn(ADMIN.username, ADMIN.password);
    const updated = await runCli(
      ['users', 'update', 'una', '--email', 'una@example.org', '--disabled'],
      admin.env,
    );
    assert.equal(updated.status, 0, updated.stderr);
    assert.match(updated.stdout, /Updated una/);
    assert.match(updated.stdout, /una@example\.org/);
    assert.equal(await canLogIn('una', 'Unapass12'), false);

    const enabled = await runCli(['users', 'update', 'una', '--enabled', '--json'], admin.env);
    assert.equal(enabled.status, 0, enabled.stderr);
    const user = JSON.parse(enabled.stdout) as { enabled: boolean; email: string };
    assert.equal(user.enabled, true);
    assert.equal(user.email, 'una@example.org');
    assert.equal(await canLogIn('una', 'Unapass12'), true);

    const both = await runCli(['users', 'update', 'una', '--enabled', '--disabled'], admin.env);
    assert.equal(both.status, 2);
    const nothing = await runCli(['users', 'update', 'una'], admin.env);
    assert.equal(nothing.status, 2);
    assert.match(nothing.stderr, /nothing to update/);
    const badEmail = await runCli(['users', 'update', 'una', '--email', 'not-an-address'], admin.env);
    assert.equal(badEmail.status, 1);
    assert.match(badEmail.stderr, /could not update una: Expecting valid email address/);
  });
});
