import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { ManualClock } from '../src/core/clock.js';
import {
  createAccount,
  createAdmin,
  createTestEnv,
  createUserVia,
  dialects,
  PASSWORD,
  type TestEnv,
  type TestUser,
} from './support/harness.js';
import { enableOtp, totpAt } from './support/mfa.js';
import { type RunResult, runClean } from './support/process.js';
import { requireTool } from './support/tools.js';

/**
 * The stock `openstack` CLI (Debian's python3-openstackclient) for what an ordinary user does
 * every day: the catalog, its projects, and a change of its own password, with and without MFA.
 * The server runs in this process and listens on a free port; its clock is pinned to now, so the
 * passcodes the test computes are the ones the server expects.
 */
const OPENSTACK = '/usr/bin/openstack';

const clientMissing = requireTool('openstack');

const run = (args: string[], cwd: string): Promise<RunResult> => runClean(OPENSTACK, args, cwd);

function jsonOf<T>(result: RunResult): T {
  assert.equal(result.code, 0, `openstack failed: ${result.stderr}`);
  return JSON.parse(result.stdout) as T;
}

for (const dialect of dialects()) {
  describe(`the stock openstack client for everyday use (${dialect})`, {
    skip: clientMissing,
  }, () => {
    let env: TestEnv;
    let url: string;
    let admin: TestUser;
    let owner: TestUser;
    before(async () => {
      env = await createTestEnv({ dialect, clock: new ManualClock(Date.now()) });
      await env.app.listen({ host: '127.0.0.1', port: 0 });
      const address = env.app.server.address();
      assert.ok(address && typeof address === 'object');
      url = `http://127.0.0.1:${address.port}`;
      admin = await createAdmin(env);
      owner = await createAccount(env, admin);
    });
    after(() => env.close());

    /**
     * `openstack` with a password (the domain left to the client's default); for MFA users,
     * v3multifactor (password and totp) from a clouds.yaml of its own, and the passcode.
     */
    function openstack(user: TestUser, password: string, passcode: string | null, ...command: string[]) {
      if (passcode === null) {
        const auth = ['--os-auth-url', `${url}/v3`, '--os-identity-api-version', '3'];
        return run(
          [...auth, '--os-username', user.username, '--os-password', password, ...command],
          env.dataDir,
        );
      }
      const dir = fs.mkdtempSync(path.join(env.dataDir, 'cloud-'));
      fs.writeFileSync(
        path.join(dir, 'clouds.yaml'),
        [
          'clouds:',
          '  latchkey:',
          '    auth_type: v3multifactor',
          '    auth_methods: [v3password, v3totp]',
          '    auth:',
          `      auth_url: ${url}/v3`,
          `      username: ${user.username}`,
          `      password: ${password}`,
          '      user_domain_id: default',
          '    identity_api_version: 3',
          '',
        ].join('\n'),
      );
      return run(['--os-cloud', 'latchkey', '--os-passcode', passcode, ...command], dir);
    }

    /** A passcode the server has not seen: the clock moves on a step each time. */
    function nextPasscode(secret: string): string {
      env.clock.advance(30_000);
      return totpAt(secret, env.clock.now());
    }

    test('openstack catalog list shows latchkey as the identity service at /v3', async () => {
      const user = await createUserVia(env, owner, 'catalog');
      const services = jsonOf<{ Name: string; Type: string; Endpoints: unknown }[]>(
        await openstack(user, PASSWORD, null, 'catalog', 'list', '-f', 'json'),
      );
      const identity = services.find((service) => service.Type === 'identity');
      assert.equal(identity?.Name, 'latchkey');
      assert.match(JSON.stringify(identity?.Endpoints), new RegExp(`${url}/v3`));
    });

    test("openstack project list shows the user's account and nothing else", async () => {
      const user = await createUserVia(env, owner, 'projects');
      const projects = jsonOf<{ ID: string; Name: string }[]>(
        await openstack(user, PASSWORD, null, 'project', 'list', '-f', 'json'),
      );
      assert.deepEqual(projects, [{ ID: owner.domainId, Name: owner.domainId }]);
    });

    test('openstack user password set: the new password logs in, the old one no longer does', async () => {
      const user = await createUserVia(env, owner, 'pwset');
      const changed = await openstack(
        user,
        PASSWORD,
        null,
        'user',
        'password',
        'set',
        '--original-password',
        PASSWORD,
        '--password',
        'Changed22x',
      );
      assert.equal(changed.code, 0, changed.stderr);
      const old = await openstack(user, PASSWORD, null, 'token', 'issue', '-f', 'json');
      assert.notEqual(old.code, 0);
      const token = jsonOf<{ user_id: string }>(
        await openstack(user, 'Changed22x', null, 'token', 'issue', '-f', 'json'),
      );
      assert.equal(token.user_id, user.id);
      // The token the client used for the change was revoked with the rest.
      assert.equal((await env.request('GET', `/v2.0/users/${user.id}`, { token: user.token })).status, 401);
    });

    test('a user with an authenticator: catalog, projects and the password change with a passcode', async () => {
      const user = await createUserVia(env, owner, 'mfa');
      const secret = await enableOtp(env, user);
      const refused = await openstack(user, PASSWORD, null, 'project', 'list', '-f', 'json');
      assert.notEqual(refused.code, 0, 'the password alone is not enough');

      const services = jsonOf<{ Type: string }[]>(
        await openstack(user, PASSWORD, nextPasscode(secret), 'catalog', 'list', '-f', 'json'),
      );
      assert.ok(services.some((service) => service.Type === 'identity'));
      const projects = jsonOf<{ ID: string }[]>(
        await openstack(user, PASSWORD, nextPasscode(secret), 'project', 'list', '-f', 'json'),
      );
      assert.deepEqual(
        projects.map((project) => project.ID),
        [owner.domainId],
      );
      const changed = await openstack(
        user,
        PASSWORD,
        nextPasscode(secret),
        'user',
        'password',
        'set',
        '--original-password',
        PASSWORD,
        '--password',
        'Changed33x',
      );
      assert.equal(changed.code, 0, changed.stderr);
      const token = jsonOf<{ user_id: string }>(
        await openstack(user, 'Changed33x', nextPasscode(secret), 'token', 'issue', '-f', 'json'),
      );
      assert.equal(token.user_id, user.id);
    });
  });
}
