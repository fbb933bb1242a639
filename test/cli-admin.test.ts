import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import {
  ADMIN,
  Authenticator,
  api,
  builtBin,
  createUser,
  enableOtp,
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
import { until } from './support/wait.js';

describe('latchkey administration and MFA setup, against a server process', () => {
  let server: ServerProcess;
  let adminToken: string;
  const homes: { cleanup(): void }[] = [];
  const home = () => {
    const created = newHome();
    homes.push(created);
    return { ...created, env: { ...created.env, LATCHKEY_URL: server.url } };
  };
  let admin: ReturnType<typeof home>;

  before(async () => {
    server = await startServer();
    adminToken = await passwordToken(server.url, ADMIN.username, ADMIN.password);
    admin = home();
    const login = await runCli(
      ['login', '--username', ADMIN.username, '--password-stdin'],
      admin.env,
      `${ADMIN.password}\n`,
    );
    assert.equal(login.status, 0, login.stderr);
  });
  after(async () => {
    await server?.stop();
    for (const created of homes) created.cleanup();
  });

  test('a user locked by wrong passcodes gets exit code 4 until an administrator unlocks them', async () => {
    const lou = await createUser(server.url, adminToken, 'lou', 'Loupass12');
    const { authenticator } = await enableOtp(
      server.url,
      lou,
      await passwordToken(server.url, 'lou', 'Loupass12'),
    );
    const first = await api(server.url, 'POST', '/v2.0/tokens', {
      body: { auth: { passwordCredentials: { username: 'lou', password: 'Loupass12' } } },
    });
    const sessionId = /sessionId='([^']+)'/.exec(first.headers.get('www-authenticate') ?? '')?.[1] ?? '';
    let last = 0;
    for (let attempt = 1; attempt <= 7; attempt++) {
      last = (
        await api(server.url, 'POST', '/v2.0/tokens', {
          headers: { 'x-sessionid': sessionId },
          body: { auth: { 'RAX-AUTH:passcodeCredentials': { passcode: '000000' } } },
        })
      ).status;
    }
    assert.equal(last, 403, 'the seventh wrong passcode locks');

    const user = home();
    const locked = await runCli(
      ['login', '--username', 'lou', '--password-stdin', '--passcode', await authenticator.code()],
      user.env,
      'Loupass12\n',
    );
    assert.equal(locked.status, 4);
    assert.match(
      locked.stderr,
      /^latchkey: could not log in: .*locked due to excessive invalid attempts.*\n$/,
    );

    const shown = await runCli(['users', 'show', 'lou'], admin.env);
    assert.match(shown.stdout, /MFA\s+authenticator, LOCKED/);
    const unlock = await runCli(['users', 'unlock', 'lou'], admin.env);
    assert.equal(unlock.status, 0, unlock.stderr);
    assert.match(unlock.stdout, /Unlocked lou/);

    const again = await runCli(
      ['login', '--username', 'lou', '--password-stdin', '--passcode', await authenticator.code()],
      user.env,
      'Loupass12\n',
    );
    assert.equal(again.status, 0, again.stderr);

    const events = await runCli(['events', '--user', 'lou', '--type', 'mfa.unlocked', '--json'], admin.env);
    assert.equal(events.status, 0, events.stderr);
    const lines = events.stdout
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as { type: string; userId: string });
    assert.equal(lines.length, 1);
    assert.equal(lines[0]?.userId, lou.id);
  });

  test('an account owner previews enforcement with --dry-run, then requires MFA; bob sets it up from the terminal', async () => {
    const alice = await createUser(server.url, adminToken, 'alice', 'Alicepass1');
    const aliceToken = await passwordToken(server.url, 'alice', 'Alicepass1');
    await createUser(server.url, aliceToken, 'bob', 'Bobpass12');
    const { bypassCodes } = await enableOtp(server.url, alice, aliceToken);
    const bobToken = await passwordToken(server.url, 'bob', 'Bobpass12');
    const bobTokenValid = async () =>
      (await api(server.url, 'GET', `/v2.0/tokens/${bobToken}`, { token: bobToken })).status === 200;

    const owner = home();
    const login = await runCli(
      ['login', '--username', 'alice', '--password-stdin', '--passcode', bypassCodes[0] ?? ''],
      owner.env,
      'Alicepass1\n',
    );
    assert.equal(login.status, 0, login.stderr);

    const dryRun = await runCli(['account', 'enforcement', 'set', 'REQUIRED', '--dry-run'], owner.env);
    assert.equal(dryRun.status, 0, dryRun.stderr);
    assert.match(dryRun.stdout, new RegExp(`Setting account ${alice.domainId} to REQUIRED would:`));
    assert.match(dryRun.stdout, /log out bob \(1 token\(s\) revoked\)/);
    assert.match(dryRun.stdout, /require bob to set up MFA/);
    assert.match(dryRun.stderr, /nothing was changed/);
    assert.ok(await bobTokenValid(), 'a dry run logs nobody out');
    const before = await runCli(['account', 'enforcement'], owner.env);
    assert.match(before.stdout, /MFA enforcement\s+OPTIONAL/);

    const set = await runCli(['account', 'enforcement', 'set', 'REQUIRED'], owner.env);
    assert.equal(set.status, 0, set.stderr);
    assert.ok(!(await bobTokenValid()), "bob's password token is revoked");
    const shown = await runCli(['account', 'enforcement', 'show', '--json'], owner.env);
    assert.equal(
      (JSON.parse(shown.stdout) as { domainMultiFactorEnforcementLevel: string })
        .domainMultiFactorEnforcementLevel,
      'REQUIRED',
    );

    const member = home();
    const refused = await runCli(
      ['login', '--username', 'bob', '--password-stdin'],
      member.env,
      'Bobpass12\n',
    );
    assert.equal(refused.status, 3);
    assert.match(refused.stderr, /User must setup multi-factor.*latchkey login --setup-mfa/);
    const setup = await runCli(
      ['login', '--username', 'bob', '--password-stdin', '--setup-mfa'],
      member.env,
      'Bobpass12\n',
    );
    assert.equal(setup.status, 0, setup.stderr);
    assert.match(setup.stderr, /only set up MFA/);

    const session = terminal(['mfa', 'add-authenticator', 'bob phone'], member.env);
    const [, secret] = await session.expect(/secret key:\s+([A-Z2-7]{16,})/);
    assert.match(session.screen, /[▀▄█]/, 'the QR code is drawn');
    await session.expect(/Code shown by the app:/);
    const bobApp = new Authenticator(secret ?? '');
    session.type(`${await bobApp.code()}\r`);
    assert.equal(await session.exit, 0, plain(session.screen));
    assert.match(plain(session.screen), /Authenticator 'bob phone' verified/);

    const enable = await runCli(['mfa', 'enable'], member.env);
    assert.equal(enable.status, 0, enable.stderr);
    assert.match(enable.stderr, /revoked.*latchkey login/);
    assert.ok(
      !fs.existsSync(path.join(member.configDir, 'profiles', 'default.json')),
      'the revoked setup token is dropped',
    );

    const mfaLogin = await runCli(
      ['login', '--username', 'bob', '--password-stdin', '--passcode', await bobApp.code()],
      member.env,
      'Bobpass12\n',
    );
    assert.equal(mfaLogin.status, 0, mfaLogin.stderr);
    const status = await runCli(['mfa', 'status'], member.env);
    assert.match(status.stdout, /MFA\s+on, by authenticator app/);
    assert.match(status.stdout, /authenticator\s+bob phone \(verified\)/);

    const codes = await runCli(['mfa', 'bypass-codes', '-n', '3'], member.env);
    assert.equal(codes.status, 0, codes.stderr);
    assert.match(codes.stdout, /^\d{8}\n\d{8}\n\d{8}\n$/);
    const fresh = home();
    const byCode = await runCli(
      ['login', '--username', 'bob', '--password-stdin', '--passcode', codes.stdout.split('\n')[0] ?? ''],
      fresh.env,
      'Bobpass12\n',
    );
    assert.equal(byCode.status, 0, byCode.stderr);

    // Then passkeys or security keys only: the owner's own session stays, bob's end.
    const passkeysDryRun = await runCli(
      ['account', 'enforcement', 'set', 'PASSKEYS_ONLY', '--dry-run'],
      owner.env,
    );
    assert.equal(passkeysDryRun.status, 0, passkeysDryRun.stderr);
    assert.match(
      passkeysDryRun.stdout,
      new RegExp(`Setting account ${alice.domainId} to PASSKEYS_ONLY would:`),
    );
    // Bob's two, and alice's token that fetched her bypass codes; not the session she acts with.
    assert.match(passkeysDryRun.stdout, /log out alice, bob \(3 token\(s\) revoked\)/);
    const passkeysOnly = await runCli(['account', 'enforcement', 'set', 'PASSKEYS_ONLY'], owner.env);
    assert.equal(passkeysOnly.status, 0, passkeysOnly.stderr);
    assert.match(passkeysOnly.stderr + passkeysOnly.stdout, /now requires passkeys or security keys/);
    const shownPasskeys = await runCli(['account', 'enforcement'], owner.env);
    assert.equal(shownPasskeys.status, 0, shownPasskeys.stderr);
    assert.match(shownPasskeys.stdout, /MFA enforcement\s+REQUIRED/);
    assert.match(shownPasskeys.stdout, /passkeys only\s+yes \(PASSKEYS_ONLY\)/);
    assert.equal((await runCli(['whoami'], member.env)).status, 3, "bob's CLI session ended");
    const bobPassword = await runCli(
      ['login', '--username', 'bob', '--password-stdin', '--passcode', await bobApp.code()],
      fresh.env,
      'Bobpass12\n',
    );
    assert.equal(bobPassword.status, 3, bobPassword.stderr);
    assert.match(bobPassword.stderr, /requires a passkey or security key/);
    // REQUIRED from the CLI means MFA of any kind again.
    assert.equal((await runCli(['account', 'enforcement', 'set', 'REQUIRED'], owner.env)).status, 0);
    assert.match((await runCli(['account', 'enforcement'], owner.env)).stdout, /passkeys only\s+no/);
  });

  test('an administrator creates, lists, disables and deletes a user', async () => {
    const created = await runCli(
      ['users', 'create', 'carol', '--email', 'carol@example.com', '--json'],
      admin.env,
    );
    assert.equal(created.status, 0, created.stderr);
    const carol = JSON.parse(created.stdout) as { id: string; 'OS-KSADM:password': string };
    assert.ok(carol['OS-KSADM:password'], 'the generated password is shown');

    const list = await runCli(['users', 'list'], admin.env);
    assert.match(list.stdout, new RegExp(`carol\\s+${carol.id}\\s+yes\\s+off`));

    const carolHome = home();
    assert.equal(
      (
        await runCli(
          ['login', '--username', 'carol', '--password-stdin'],
          carolHome.env,
          `${carol['OS-KSADM:password']}\n`,
        )
      ).status,
      0,
    );
    assert.equal((await runCli(['users', 'disable', 'carol'], admin.env)).status, 0);
    const whoami = await runCli(['whoami'], carolHome.env);
    assert.equal(whoami.status, 3, 'a disabled user’s token is revoked');
    assert.match(whoami.stderr, /no longer accepts your token/);

    const noConfirmation = await runCli(['users', 'delete', 'carol'], admin.env);
    assert.equal(noConfirmation.status, 2, 'deleting without a terminal needs --yes');
    assert.equal((await runCli(['users', 'delete', 'carol', '--yes'], admin.env)).status, 0);
    const gone = await runCli(['users', 'show', carol.id], admin.env);
    assert.equal(gone.status, 1);
    assert.match(gone.stderr, /^latchkey: could not show [0-9a-f]{32}: .+\n$/);
  });

  test('a user adds a phone on the terminal with the PIN from the outbox; an administrator texts a temporary code', async () => {
    await createUser(server.url, adminToken, 'pia', 'Piapass12');
    const user = home();
    await runCli(['login', '--username', 'pia', '--password-stdin'], user.env, 'Piapass12\n');
    const session = terminal(['mfa', 'add-phone', '+14155550142'], user.env);
    await session.expect(/PIN sent to \+14155550142:/);
    const pin = /\b(\d{4})\b/.exec(lastSms(server.outbox, '+14155550142'))?.[1] ?? '';
    session.type(`${pin}\r`);
    assert.equal(await session.exit, 0, plain(session.screen));
    assert.match(plain(session.screen), /Phone \+14155550142 verified/);
    assert.equal((await runCli(['mfa', 'enable'], user.env)).status, 0);

    const sent = await runCli(['users', 'send-temporary-code', 'pia'], admin.env);
    assert.equal(sent.status, 0, sent.stderr);
    assert.match(sent.stdout, /Temporary code sent to \+1\*{6}0142/);
    const temporary = /\b(\d{8})\b/.exec(lastSms(server.outbox, '+14155550142'))?.[1] ?? '';
    const login = await runCli(
      ['login', '--username', 'pia', '--password-stdin', '--passcode', temporary, '--json'],
      user.env,
      'Piapass12\n',
    );
    assert.equal(login.status, 0, login.stderr);
    assert.deepEqual((JSON.parse(login.stdout) as { authenticatedBy: string[] }).authenticatedBy, [
      'PASSCODE',
      'PASSWORD',
    ]);
  });

  test('events --follow prints new events as they happen', async () => {
    // Made before the follower starts: its first poll prints it, which tells that poll is done.
    await createUser(server.url, adminToken, 'cy', 'Cypass123');
    const follower = spawn(
      process.execPath,
      [builtBin(), 'events', '--follow', '--interval', '1', '--type', 'user.created', '--since', '10m'],
      { env: childEnv(admin.env), stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let output = '';
    follower.stdout.on('data', (chunk: Buffer) => {
      output += chunk.toString();
    });
    try {
      await until(() => /User created {2}cy {2}/.test(output), "the follower's first poll");
      const dan = await createUser(server.url, adminToken, 'dan', 'Danpass12');
      await until(() => /User created {2}dan {2}/.test(output), 'the follower to print the new event');
      // Usernames and sentences, not ids and field names.
      assert.match(output, /User created {2}dan {2}by root {2}\(\S+\) {2}Username dan; role identity:\S+\./);
      assert.ok(!output.includes(dan.id), 'no id where a username exists');
    } finally {
      follower.kill('SIGTERM');
    }
  });
});
