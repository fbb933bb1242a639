import assert from 'node:assert/strict';
import { execFile, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import {
  ADMIN,
  type Authenticator,
  api,
  builtBin,
  createUser,
  enableOtp,
  freePort,
  lastSms,
  newHome,
  passwordToken,
  plain,
  runCli,
  type ServerProcess,
  startServer,
  terminal,
} from './support/cli.js';
import { childEnv } from './support/process.js';
import { requireTool } from './support/tools.js';

const execFileAsync = promisify(execFile);

// biome-ignore lint/suspicious/noControlCharactersInRegex: looking for colour escape sequences
const COLOUR = /\x1b\[(?:3\d|9\d|1|2)m/;

describe('latchkey login and session commands, against a server process', () => {
  let server: ServerProcess;
  let adminToken: string;
  const homes: { cleanup(): void }[] = [];
  const home = () => {
    const created = newHome();
    homes.push(created);
    return { ...created, env: { ...created.env, LATCHKEY_URL: server.url } };
  };
  let otto: { id: string; username: string; password: string };
  let ottoApp: Authenticator;
  let ottoBypass: string[];

  before(async () => {
    server = await startServer();
    adminToken = await passwordToken(server.url, ADMIN.username, ADMIN.password);
    otto = await createUser(server.url, adminToken, 'otto', 'Ottopass1');
    const enabled = await enableOtp(server.url, otto, await passwordToken(server.url, 'otto', 'Ottopass1'));
    ottoApp = enabled.authenticator;
    ottoBypass = enabled.bypassCodes;
  });
  after(async () => {
    await server?.stop();
    for (const created of homes) created.cleanup();
  });

  test('on a terminal: the password is asked without echo, then the authenticator passcode', async () => {
    const user = home();
    const session = terminal(['login', '--username', 'otto'], user.env);
    await session.expect(/Password for otto at http:\/\/127\.0\.0\.1:\d+:/);
    session.type('Ottopass1\r');
    await session.expect(/Passcode from your authenticator app \(or a bypass or temporary code\):/);
    session.type(`${await ottoApp.code()}\r`);
    assert.equal(await session.exit, 0, plain(session.screen));
    assert.match(plain(session.screen), /Logged in to .* as otto \(OTPPASSCODE \+ PASSWORD\)/);
    assert.ok(!session.screen.includes('Ottopass1'), 'the password is not echoed');
    assert.match(session.screen, COLOUR, 'a terminal gets colour');

    const whoami = await runCli(['whoami'], user.env);
    assert.equal(whoami.status, 0, whoami.stderr);
    assert.match(whoami.stdout, /user\s+otto/);
    assert.match(whoami.stdout, /MFA\s+on \(authenticator app\)/);
    assert.match(whoami.stdout, /by OTPPASSCODE \+ PASSWORD/);
    assert.ok(
      !`${whoami.stdout}${whoami.stderr}`.includes('\x1b['),
      'no escape sequences without a terminal',
    );
  });

  test('with the password piped in, the passcode is still asked on the terminal', async () => {
    const user = home();
    const session = terminal(['login', '--username', 'otto', '--password-stdin'], user.env, 'Ottopass1');
    await session.expect(/Passcode from your authenticator app \(or a bypass or temporary code\):/);
    session.type(`${await ottoApp.code()}\r`);
    assert.equal(await session.exit, 0, plain(session.screen));
    assert.match(plain(session.screen), /Logged in to .* as otto \(OTPPASSCODE \+ PASSWORD\)/);
    assert.ok(!session.screen.includes('Ottopass1'), 'the piped password is not shown');
  });

  test('an SMS user is told the masked number and logs in with the code from the outbox', async () => {
    const sam = await createUser(server.url, adminToken, 'sam', 'Sampass12');
    const token = await passwordToken(server.url, 'sam', 'Sampass12');
    const base = `/v2.0/users/${sam.id}/RAX-AUTH/multi-factor`;
    const phone = (
      await api(server.url, 'POST', `${base}/mobile-phones`, {
        token,
        body: { 'RAX-AUTH:mobilePhone': { number: '+12015550123' } },
      })
    ).body['RAX-AUTH:mobilePhone'] as { id: string };
    await api(server.url, 'POST', `${base}/mobile-phones/${phone.id}/verificationcode`, { token });
    const pin = /\b(\d{4})\b/.exec(lastSms(server.outbox, '+12015550123'))?.[1] ?? '';
    const verified = await api(server.url, 'POST', `${base}/mobile-phones/${phone.id}/verify`, {
      token,
      body: { 'RAX-AUTH:verificationCode': { code: pin } },
    });
    assert.equal(verified.status, 204);
    await api(server.url, 'PUT', base, { token, body: { 'RAX-AUTH:multiFactor': { enabled: true } } });

    const user = home();
    const session = terminal(['login', '--username', 'sam'], { ...user.env, NO_COLOR: '1' });
    await session.expect(/Password for sam/);
    session.type('Sampass12\r');
    await session.expect(/Passcode sent by SMS to \+1\*{6}0123 \(or a bypass or temporary code\):/);
    const passcode = /\b(\d{7})\b/.exec(lastSms(server.outbox, '+12015550123'))?.[1];
    assert.ok(passcode, 'the login passcode is in the outbox');
    session.type(`${passcode}\r`);
    assert.equal(await session.exit, 0, plain(session.screen));
    assert.match(plain(session.screen), /as sam \(PASSCODE \+ PASSWORD\)/);
    assert.doesNotMatch(session.screen, COLOUR, 'NO_COLOR: no colour even on a terminal');
  });

  test('a script logs in with --password-stdin and a bypass code, and --json says how', async () => {
    const user = home();
    const [code] = ottoBypass;
    const run = await runCli(
      ['login', '--username', 'otto', '--password-stdin', '--passcode', code ?? '', '--json'],
      user.env,
      'Ottopass1\n',
    );
    assert.equal(run.status, 0, run.stderr);
    const result = JSON.parse(run.stdout) as { username: string; token: string; authenticatedBy: string[] };
    assert.equal(result.username, 'otto');
    assert.deepEqual(result.authenticatedBy, ['OTPPASSCODE', 'PASSWORD']);
    const again = await runCli(
      ['login', '--username', 'otto', '--password-stdin', '--passcode', code ?? ''],
      user.env,
      'Ottopass1\n',
    );
    assert.equal(again.status, 3, 'a bypass code works once');
  });

  test('LATCHKEY_USERNAME and OS_AUTH_URL name the user and server; --api-key reads the key from stdin', async () => {
    const user = home();
    const key = await api(
      server.url,
      'GET',
      `/v2.0/users/${otto.id}/OS-KSADM/credentials/RAX-KSKEY:apiKeyCredentials`,
      {
        token: adminToken,
      },
    );
    const apiKey = (key.body['RAX-KSKEY:apiKeyCredentials'] as { apiKey: string }).apiKey;
    const { LATCHKEY_URL: _url, ...withoutUrl } = user.env;
    const env = { ...withoutUrl, LATCHKEY_USERNAME: 'otto' };
    const run = await runCli(
      ['login', '--api-key'],
      { ...env, OS_AUTH_URL: `${server.url}/v2.0/` },
      `${apiKey}\n`,
    );
    assert.equal(run.status, 0, run.stderr);
    assert.match(run.stdout, /as otto \(APIKEY\)/, 'API keys skip MFA');
  });

  test('eval "$(latchkey token --export)" sets a token that the server accepts', async () => {
    const user = home();
    await runCli(
      ['login', '--username', 'otto', '--password-stdin', '--passcode', ottoBypass[2] ?? ''],
      user.env,
      'Ottopass1\n',
    );
    const shell = spawnSync(
      'bash',
      [
        '-c',
        `eval "$('${process.execPath}' '${builtBin()}' token --export)"; printf '%s %s' "$OS_AUTH_TOKEN" "$OS_TOKEN"`,
      ],
      { env: { ...childEnv(), ...user.env }, encoding: 'utf8' },
    );
    assert.equal(shell.status, 0, shell.stderr);
    const [authToken, osToken] = shell.stdout.split(' ');
    assert.match(authToken ?? '', /^[0-9a-f]{32}$/);
    assert.equal(osToken, authToken);
    const validated = await api(server.url, 'GET', `/v2.0/tokens/${authToken}`, { token: authToken });
    assert.equal(validated.status, 200, 'the exported token validates');
    assert.equal((validated.body.access as { user: { name: string } }).user.name, 'otto');
  });

  test('eval "$(latchkey token --export)" then `openstack token issue` needs no other flag', {
    skip: requireTool('openstack'),
  }, async () => {
    const user = home();
    const login = await runCli(
      ['login', '--username', 'otto', '--password-stdin', '--passcode', ottoBypass[3] ?? ''],
      user.env,
      'Ottopass1\n',
    );
    assert.equal(login.status, 0, login.stderr);
    // Asynchronously: a blocked event loop would leave this process's idle keep-alive sockets to
    // the server unnoticed as closed, and the next request would be sent on one.
    const shell = await execFileAsync(
      'bash',
      [
        '-c',
        // A password left in the environment must not make the client ask for it again.
        `export OS_PASSWORD=stale OS_USERNAME=otto; eval "$('${process.execPath}' '${builtBin()}' token --export)" && /usr/bin/openstack token issue -f json && '${process.execPath}' '${builtBin()}' whoami --json`,
      ],
      { env: { PATH: process.env.PATH, ...user.env }, encoding: 'utf8', timeout: 60_000 },
    );
    const [issuedText, whoamiText] = shell.stdout.split(/\n(?=\{\n {2}"url")/);
    const issued = JSON.parse(issuedText ?? '') as { id: string; user_id: string; project_id: string };
    assert.equal(issued.user_id, otto.id);
    assert.match(issued.id, /^[0-9a-f]{32}$/);
    const validated = await api(server.url, 'GET', `/v2.0/tokens/${issued.id}`, { token: issued.id });
    assert.equal(validated.status, 200, 'the token the openstack client got validates');
    const whoami = JSON.parse(whoamiText ?? '') as { url: string; user: { username: string } };
    assert.equal(whoami.url, server.url, 'latchkey reads the exported /v3 OS_AUTH_URL as the same server');
    assert.equal(whoami.user.username, 'otto');
  });

  test('the token cache is mode 0600, and an expired token is named as such', async () => {
    const user = home();
    const run = await runCli(
      ['login', '--username', 'root', '--password-stdin'],
      user.env,
      `${ADMIN.password}\n`,
    );
    assert.equal(run.status, 0, run.stderr);
    const file = path.join(user.configDir, 'profiles', 'default.json');
    assert.equal(fs.statSync(file).mode & 0o777, 0o600);
    assert.equal(fs.statSync(user.configDir).mode & 0o777, 0o700);
    const token = await runCli(['token'], user.env);
    assert.equal(token.status, 0);
    assert.match(token.stdout.trim(), /^[0-9a-f]{32}$/);

    const cached = JSON.parse(fs.readFileSync(file, 'utf8')) as { expires: string };
    cached.expires = '2020-01-01T00:00:00.000Z';
    fs.writeFileSync(file, JSON.stringify(cached));
    for (const command of [['token'], ['whoami'], ['mfa', 'status']]) {
      const expired = await runCli(command, user.env);
      assert.equal(expired.status, 3, command.join(' '));
      assert.equal(
        expired.stderr,
        "latchkey: your token expired at 2020-01-01T00:00:00.000Z: run 'latchkey login' again\n",
      );
    }
    fs.rmSync(file);
    const missing = await runCli(['token'], user.env);
    assert.equal(missing.status, 3);
    assert.equal(missing.stderr, "latchkey: not logged in: run 'latchkey login' first\n");
  });

  test('a wrong passcode or password is one line and exit code 3; nothing is cached', async () => {
    const user = home();
    const wrong = await runCli(
      ['login', '--username', 'otto', '--password-stdin', '--passcode', '000000'],
      user.env,
      'Ottopass1\n',
    );
    assert.equal(wrong.status, 3);
    assert.equal(wrong.stderr, 'latchkey: wrong passcode: Can not authenticate with credentials provided\n');
    assert.ok(!fs.existsSync(path.join(user.configDir, 'profiles', 'default.json')));

    const badPassword = await runCli(
      ['login', '--username', 'otto', '--password-stdin'],
      user.env,
      'Wrongpass1\n',
    );
    assert.equal(badPassword.status, 3);
    assert.equal(badPassword.stderr.split('\n').length, 2, 'one line');
    assert.match(badPassword.stderr, /^latchkey: could not log in: .*Unable to authenticate user/);

    const noTerminal = await runCli(['login', '--username', 'otto'], user.env);
    assert.equal(noTerminal.status, 2, 'no terminal to prompt on is a usage error');
    assert.match(noTerminal.stderr, /--password-stdin/);
  });

  test('logout revokes the token on the server and empties the cache', async () => {
    const user = home();
    await runCli(['login', '--username', 'root', '--password-stdin'], user.env, `${ADMIN.password}\n`);
    const token = (await runCli(['token'], user.env)).stdout.trim();
    assert.equal((await api(server.url, 'GET', `/v2.0/tokens/${token}`, { token: adminToken })).status, 200);
    const logout = await runCli(['logout'], user.env);
    assert.equal(logout.status, 0, logout.stderr);
    assert.match(logout.stdout, /revoked/);
    assert.equal((await api(server.url, 'GET', `/v2.0/tokens/${token}`, { token: adminToken })).status, 404);
    assert.ok(!fs.existsSync(path.join(user.configDir, 'profiles', 'default.json')));
    assert.equal((await runCli(['whoami'], user.env)).status, 3);
  });

  test('an unreachable server, a bad option and a bad URL each have their own exit code', async () => {
    const user = home();
    const closed = `http://127.0.0.1:${await freePort()}`;
    const network = await runCli(
      ['login', '--username', 'otto', '--password-stdin'],
      { ...user.env, LATCHKEY_URL: closed },
      'Ottopass1\n',
    );
    assert.equal(network.status, 5);
    assert.equal(
      network.stderr,
      `latchkey: cannot reach ${closed}: connection refused (is the server running?)\n`,
    );
    assert.equal(network.stderr.split('\n').length, 2);

    const usage = await runCli(['whoami', '--bogus'], user.env);
    assert.equal(usage.status, 2);
    assert.equal(usage.stderr, "latchkey: unknown option '--bogus'\n");

    const badUrl = await runCli(['login', '--url', 'ftp://example.com'], user.env);
    assert.equal(badUrl.status, 2);
  });
});
