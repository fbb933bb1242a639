import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import {
  ADMIN,
  createUser,
  newHome,
  passwordToken,
  runCli,
  type ServerProcess,
  startServer,
} from './support/cli.js';

describe('latchkey profiles: one saved session per server or user', () => {
  let server: ServerProcess;
  const homes: { cleanup(): void }[] = [];
  const home = () => {
    const created = newHome();
    homes.push(created);
    return { ...created, env: { ...created.env, LATCHKEY_URL: server.url } };
  };

  before(async () => {
    server = await startServer();
    const adminToken = await passwordToken(server.url, ADMIN.username, ADMIN.password);
    await createUser(server.url, adminToken, 'bea', 'Beapass12');
  });
  after(async () => {
    await server?.stop();
    for (const created of homes) created.cleanup();
  });

  test('--profile and LATCHKEY_PROFILE each keep their own session; profiles list shows them all', async () => {
    const user = home();
    const root = await runCli(
      ['login', '--username', ADMIN.username, '--password-stdin'],
      user.env,
      `${ADMIN.password}\n`,
    );
    assert.equal(root.status, 0, root.stderr);
    const bea = await runCli(
      ['login', '--profile', 'bea', '--username', 'bea', '--password-stdin'],
      user.env,
      'Beapass12\n',
    );
    assert.equal(bea.status, 0, bea.stderr);
    assert.match(bea.stdout, /profiles\/bea\.json \(profile bea\)/);
    const beaFile = path.join(user.configDir, 'profiles', 'bea.json');
    assert.equal(fs.statSync(beaFile).mode & 0o777, 0o600);

    const whoDefault = await runCli(['whoami', '--json'], user.env);
    assert.equal((JSON.parse(whoDefault.stdout) as { user: { username: string } }).user.username, 'root');
    const whoFlag = await runCli(['--profile', 'bea', 'whoami', '--json'], user.env);
    assert.equal((JSON.parse(whoFlag.stdout) as { user: { username: string } }).user.username, 'bea');
    const whoEnv = await runCli(['whoami', '--json'], { ...user.env, LATCHKEY_PROFILE: 'bea' });
    assert.equal((JSON.parse(whoEnv.stdout) as { user: { username: string } }).user.username, 'bea');

    const listed = await runCli(['profiles', 'list', '--profile', 'bea'], user.env);
    assert.equal(listed.status, 0, listed.stderr);
    const lines = listed.stdout.trim().split('\n');
    assert.match(lines[0] ?? '', /PROFILE\s+SERVER\s+USER\s+TOKEN/);
    assert.match(lines[1] ?? '', /^\s+default\s+http:\/\/127\.0\.0\.1:\d+\s+root\s+valid until /);
    assert.match(lines[2] ?? '', /^\*\s+bea\s+http:\/\/127\.0\.0\.1:\d+\s+bea\s+valid until /);

    const json = await runCli(['profiles', 'list', '--json'], user.env);
    const profiles = JSON.parse(json.stdout) as { name: string; current: boolean; username: string }[];
    assert.deepEqual(
      profiles.map(({ name, current, username }) => ({ name, current, username })),
      [
        { name: 'default', current: true, username: 'root' },
        { name: 'bea', current: false, username: 'bea' },
      ],
    );

    // Logging out of one profile leaves the other logged in.
    assert.equal((await runCli(['--profile', 'bea', 'logout'], user.env)).status, 0);
    assert.equal((await runCli(['whoami'], user.env)).status, 0);
    const gone = await runCli(['--profile', 'bea', 'whoami'], user.env);
    assert.equal(gone.status, 3);
    assert.equal(
      gone.stderr,
      "latchkey: not logged in in profile bea: run 'latchkey login --profile bea' first\n",
    );
  });

  test('the session.json of earlier versions becomes the default profile, still logged in', async () => {
    const user = home();
    const login = await runCli(['login', '--username', 'bea', '--password-stdin'], user.env, 'Beapass12\n');
    assert.equal(login.status, 0, login.stderr);
    // As an earlier version left it: one file, no profiles directory.
    const legacy = path.join(user.configDir, 'session.json');
    fs.renameSync(path.join(user.configDir, 'profiles', 'default.json'), legacy);
    fs.rmdirSync(path.join(user.configDir, 'profiles'));

    const whoami = await runCli(['whoami', '--json'], user.env);
    assert.equal(whoami.status, 0, whoami.stderr);
    assert.equal((JSON.parse(whoami.stdout) as { user: { username: string } }).user.username, 'bea');
    assert.ok(!fs.existsSync(legacy), 'moved, not copied: the token is in one place');
    assert.equal(fs.statSync(path.join(user.configDir, 'profiles', 'default.json')).mode & 0o777, 0o600);
    assert.equal(fs.statSync(path.join(user.configDir, 'profiles')).mode & 0o777, 0o700);
  });

  test('a profile name that could escape its directory is a usage error', async () => {
    const user = home();
    for (const name of ['../x', '.hidden', 'a/b', '']) {
      const run = await runCli(['--profile', name, 'whoami'], user.env);
      assert.equal(run.status, 2, name);
      assert.match(run.stderr, /is not a profile name/);
    }
    const fromEnv = await runCli(['token'], { ...user.env, LATCHKEY_PROFILE: '../../etc' });
    assert.equal(fromEnv.status, 2);
  });
});
