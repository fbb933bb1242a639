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
} from './support/cli.js';

describe('latchkey users: the password lock, against a server process', () => {
  let server: ServerProcess;
  let adminToken: string;
  let admin: ReturnType<typeof newHome>;

  before(async () => {
    server = await startServer();
    adminToken = await passwordToken(server.url, ADMIN.username, ADMIN.password);
    const created = newHome();
    admin = { ...created, env: { ...created.env, LATCHKEY_URL: server.url } };
    const login = await runCli(
      ['login', '--username', ADMIN.username, '--password-stdin'],
      admin.env,
      `${ADMIN.password}\n`,
    );
    assert.equal(login.status, 0, login.stderr);
  });
  after(async () => {
    await server?.stop();
    admin?.cleanup();
  });

  test('regression: `users show` did not say that wrong passwords locked a user; `users unlock` lifts it', async () => {
    const pat = await createUser(server.url, adminToken, 'pat', 'Patpass12');
    const shownBefore = await runCli(['users', 'show', 'pat'], admin.env);
    assert.match(plain(shownBefore.stdout), /password\s+not locked/);

    const lockedAt = Date.now();
    for (let attempt = 1; attempt <= 6; attempt++) {
      const wrong = await api(server.url, 'POST', '/v2.0/tokens', {
        body: { auth: { passwordCredentials: { username: 'pat', password: 'Wrongpass1' } } },
      });
      assert.equal(wrong.status, 401);
    }

    const shown = await runCli(['users', 'show', 'pat'], admin.env);
    assert.equal(shown.status, 0, shown.stderr);
    const line =
      /password\s+LOCKED after too many wrong passwords, until (\S+) \(latchkey users unlock pat\)/.exec(
        plain(shown.stdout),
      );
    assert.ok(line?.[1], shown.stdout);
    const until = Date.parse(line[1]);
    assert.ok(until >= lockedAt + 1_800_000 - 5_000 && until <= Date.now() + 1_800_000, line[1]);

    const json = await runCli(['users', 'show', 'pat', '--json'], admin.env);
    assert.equal(
      (JSON.parse(json.stdout) as Record<string, unknown>)['RAX-AUTH:passwordLockedUntil'],
      line[1],
    );
    const list = await runCli(['users', 'list'], admin.env);
    assert.match(plain(list.stdout), new RegExp(`pat\\s+${pat.id}\\s+yes, password LOCKED\\s+off`));

    const unlock = await runCli(['users', 'unlock', 'pat'], admin.env);
    assert.equal(unlock.status, 0, unlock.stderr);
    assert.match(plain((await runCli(['users', 'show', 'pat'], admin.env)).stdout), /password\s+not locked/);
    // The right password works again (passwordToken throws on a refusal).
    await passwordToken(server.url, 'pat', 'Patpass12');
  });
});
