import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { parse } from 'yaml';
import {
  ADMIN,
  type Authenticator,
  api,
  createUser,
  enableOtp,
  newHome,
  passwordToken,
  runCli,
  type ServerProcess,
  startServer,
} from './support/cli.js';
import { type RunResult, runClean } from './support/process.js';
import { requireTool } from './support/tools.js';

const OPENSTACK = '/usr/bin/openstack';

interface Cloud {
  auth_type: string;
  auth_methods?: string[];
  auth: Record<string, string>;
  identity_api_version: number;
}

/** The stock client in a directory of its own (where it finds clouds.yaml), no OS_* of the machine. */
function openstack(dir: string, args: string[], env: Record<string, string> = {}): Promise<RunResult> {
  return runClean(OPENSTACK, args, dir, env);
}

describe('latchkey openstack clouds-yaml, and /v3 naming --os-passcode', () => {
  let server: ServerProcess;
  let home: ReturnType<typeof newHome>;
  let env: Record<string, string>;
  let app: Authenticator;
  let user: { id: string; domainId: string };

  before(async () => {
    server = await startServer();
    home = newHome();
    env = { ...home.env, LATCHKEY_URL: server.url };
    const adminToken = await passwordToken(server.url, ADMIN.username, ADMIN.password);
    const created = await createUser(server.url, adminToken, 'ola', 'Olapass12');
    user = created;
    app = (await enableOtp(server.url, created, await passwordToken(server.url, 'ola', 'Olapass12')))
      .authenticator;
    const login = await runCli(
      ['login', '--username', 'ola', '--password-stdin', '--passcode', await app.code()],
      env,
      'Olapass12\n',
    );
    assert.equal(login.status, 0, login.stderr);
  });
  after(async () => {
    await server?.stop();
    home?.cleanup();
  });

  test('for a user with MFA the entry is v3multifactor at /v3, with the password given to it', async () => {
    const printed = await runCli(['openstack', 'clouds-yaml', '--password-stdin'], env, 'Olapass12\n');
    assert.equal(printed.status, 0, printed.stderr);
    assert.match(printed.stdout, /--os-passcode/);
    const cloud = (parse(printed.stdout) as { clouds: Record<string, Cloud> }).clouds.latchkey as Cloud;
    assert.deepEqual(cloud, {
      auth_type: 'v3multifactor',
      auth_methods: ['v3password', 'v3totp'],
      auth: {
        auth_url: `${server.url}/v3`,
        username: 'ola',
        password: 'Olapass12',
        user_domain_id: 'default',
        project_id: user.domainId,
      },
      identity_api_version: 3,
    });
    const named = await runCli(
      ['openstack', 'clouds-yaml', '--cloud', 'work', '--auth', 'password', '--password-stdin', '-o', 'json'],
      env,
      'Olapass12\n',
    );
    assert.equal(named.status, 0, named.stderr);
    const document = JSON.parse(named.stdout) as { clouds: Record<string, Cloud> };
    assert.equal(document.clouds.work?.auth_type, 'password');

    const stranger = newHome();
    const nobody = await runCli(
      ['openstack', 'clouds-yaml', '--password-stdin'],
      { ...stranger.env, LATCHKEY_URL: server.url },
      'x\n',
    );
    stranger.cleanup();
    assert.equal(nobody.status, 2);
    assert.match(nobody.stderr, /--username/);
    const noTerminal = await runCli(['openstack', 'clouds-yaml'], env);
    assert.equal(noTerminal.status, 2, 'no terminal to ask the password on');
    assert.match(noTerminal.stderr, /--password-stdin/);
  });

  test('without a passcode /v3 answers 400 in Keystone words, then says to give --os-passcode', async () => {
    const answer = await api(server.url, 'POST', '/v3/auth/tokens', {
      body: {
        auth: {
          identity: {
            methods: ['password', 'totp'],
            password: { user: { name: 'ola', domain: { id: 'default' }, password: 'Olapass12' } },
            totp: { user: { name: 'ola', domain: { id: 'default' }, passcode: null } },
          },
        },
      },
    });
    assert.equal(answer.status, 400);
    const error = answer.body.error as { code: number; title: string; message: string };
    assert.equal(error.code, 400);
    assert.equal(error.title, 'Bad Request');
    assert.match(error.message, /^Invalid request: expecting to find passcode in user\. /);
    assert.match(error.message, /openstack --os-passcode CODE/);
  });

  test('the stock openstack CLI logs in with the printed entry: a passcode for v3multifactor, nothing for the token', {
    skip: requireTool('openstack'),
  }, async () => {
    const dir = fs.mkdtempSync(path.join(home.configDir, '..', 'cloud-'));
    const printed = await runCli(['openstack', 'clouds-yaml', '--password-stdin'], env, 'Olapass12\n');
    assert.equal(printed.status, 0, printed.stderr);
    fs.writeFileSync(path.join(dir, 'clouds.yaml'), printed.stdout);

    const bare = await openstack(dir, ['--os-cloud', 'latchkey', 'token', 'issue', '-f', 'json']);
    assert.notEqual(bare.code, 0);
    assert.match(bare.stderr, /--os-passcode/, 'the client user is told what to add');

    const issued = await openstack(dir, [
      '--os-cloud',
      'latchkey',
      '--os-passcode',
      await app.code(),
      'token',
      'issue',
      '-f',
      'json',
    ]);
    assert.equal(issued.code, 0, issued.stderr);
    const token = JSON.parse(issued.stdout) as { user_id: string; project_id: string };
    assert.equal(token.user_id, user.id);
    assert.equal(token.project_id, user.domainId);

    fs.writeFileSync(
      path.join(dir, 'clouds.yaml'),
      (await runCli(['openstack', 'clouds-yaml', '--auth', 'token'], env)).stdout,
    );
    const byToken = await openstack(dir, ['--os-cloud', 'latchkey', 'token', 'issue', '-f', 'json']);
    assert.equal(byToken.code, 0, byToken.stderr);
    assert.equal((JSON.parse(byToken.stdout) as { user_id: string }).user_id, user.id);
  });
});
