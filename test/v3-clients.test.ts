import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Authenticator } from './support/cli.js';
import { type DialectName, dialects, freshPostgresSchema, TEST_KEYS, uniqueName } from './support/harness.js';
import { secretOf, totpAt } from './support/mfa.js';
import { type RunResult, runClean, serveFromSources } from './support/process.js';
import { callServer } from './support/remote.js';
import { requireTool } from './support/tools.js';

/**
 * The stock OpenStack clients (Debian's python3-openstackclient and python3-keystoneauth1)
 * against a real server process: the `openstack` CLI with v3password and v3multifactor, and
 * keystoneauth's receipt flow from Python.
 */
const _ROOT = path.resolve(import.meta.dirname, '..');
/** Debian's interpreter, where the packages are, whatever `python3` is first on PATH. */
const PYTHON = '/usr/bin/python3';
const OPENSTACK = '/usr/bin/openstack';

const clientsMissing = requireTool('openstack');

const ADMIN = { username: 'v3admin', password: 'Adminpass1' };
const PASSWORD = 'Secretpass1';

interface Server {
  child: ChildProcess;
  url: string;
  outbox: string;
  output: string[];
}

async function startServer(dataDir: string, databaseUrl: string): Promise<Server> {
  const outbox = path.join(dataDir, 'sms-outbox.jsonl');
  const { child, url, output } = await serveFromSources({
    HOME: dataDir,
    LATCHKEY_HOST: '127.0.0.1',
    LATCHKEY_DATA_DIR: dataDir,
    LATCHKEY_DATABASE_URL: databaseUrl,
    LATCHKEY_SECRET_KEYS: TEST_KEYS,
    LATCHKEY_ARGON2_MEMORY_KIB: '1024',
    LATCHKEY_ARGON2_ITERATIONS: '1',
    LATCHKEY_SMS_PROVIDER: 'outbox',
    LATCHKEY_SMS_OUTBOX: outbox,
    LATCHKEY_BOOTSTRAP_ADMIN_USERNAME: ADMIN.username,
    LATCHKEY_BOOTSTRAP_ADMIN_PASSWORD: ADMIN.password,
    LATCHKEY_LOG_LEVEL: 'warn',
  });
  return { child, url, outbox, output };
}

interface Reply {
  status: number;
  headers: Headers;
  body: Record<string, unknown>;
}

/** keystoneauth's receipt flow, one phase per process, so the test can read the SMS in between. */
const KEYSTONEAUTH_SCRIPT = `
import json, sys
from keystoneauth1 import exceptions, session
from keystoneauth1.identity import v3

phase, url, username = sys.argv[1:4]
if phase == 'password':
    auth = v3.Password(auth_url=url, username=username, password=sys.argv[4], user_domain_id='default')
    try:
        auth.get_access(session.Session())
        print(json.dumps({'outcome': 'token'}))
    except exceptions.MissingAuthMethods as error:
        print(json.dumps({'outcome': 'receipt', 'receipt': error.receipt, 'methods': error.methods,
                          'required': error.required_auth_methods}))
else:
    receipt, passcode = sys.argv[4:6]
    auth = v3.Auth(auth_url=url, auth_methods=[
        v3.TOTPMethod(username=username, user_domain_id='default', passcode=passcode),
        v3.ReceiptMethod(receipt=receipt),
    ])
    access = auth.get_access(session.Session())
    print(json.dumps({'token': access.auth_token, 'user_id': access.user_id, 'project_id': access.project_id,
                      'methods': access._data['token']['methods']}))
`;

for (const dialect of dialects()) {
  describe(`the stock OpenStack clients against a server process (${dialect})`, {
    skip: clientsMissing,
  }, () => {
    let dataDir: string;
    let server: Server;
    let adminToken: string;

    async function call(method: string, url: string, body?: unknown, token?: string): Promise<Reply> {
      return callServer(server.url, method, url, {
        headers: { accept: 'application/json' },
        ...(body === undefined ? {} : { body }),
        ...(token ? { token } : {}),
      });
    }

    async function v2Token(username: string, password: string): Promise<string> {
      const response = await call('POST', '/v2.0/tokens', {
        auth: { passwordCredentials: { username, password } },
      });
      assert.equal(response.status, 200, JSON.stringify(response.body));
      return (response.body.access as { token: { id: string } }).token.id;
    }

    async function authenticatedByOnV2(tokenId: string): Promise<string[]> {
      const response = await call('GET', `/v2.0/tokens/${tokenId}`, undefined, adminToken);
      assert.equal(response.status, 200, JSON.stringify(response.body));
      return (response.body.access as { token: { 'RAX-AUTH:authenticatedBy': string[] } }).token[
        'RAX-AUTH:authenticatedBy'
      ];
    }

    interface Account {
      ownerToken: string;
      domainId: string;
    }

    async function createAccount(): Promise<Account> {
      const username = uniqueName('owner');
      const created = await call(
        'POST',
        '/v2.0/users',
        {
          user: { username, email: `${username}@example.com`, enabled: true, 'OS-KSADM:password': PASSWORD },
        },
        adminToken,
      );
      assert.equal(created.status, 201, JSON.stringify(created.body));
      const domainId = (created.body.user as { 'RAX-AUTH:domainId': string })['RAX-AUTH:domainId'];
      return { ownerToken: await v2Token(username, PASSWORD), domainId };
    }

    interface User {
      id: string;
      username: string;
      token: string;
    }

    async function createUser(account: Account, prefix: string): Promise<User> {
      const username = uniqueName(prefix);
      const created = await call(
        'POST',
        '/v2.0/users',
        { user: { username, enabled: true, 'OS-KSADM:password': PASSWORD } },
        account.ownerToken,
      );
      assert.equal(created.status, 201, JSON.stringify(created.body));
      return {
        id: (created.body.user as { id: string }).id,
        username,
        token: await v2Token(username, PASSWORD),
      };
    }

    const mfaPath = (user: User) => `/v2.0/users/${user.id}/RAX-AUTH/multi-factor`;

    /** An authenticator added, verified with its first code and enabled. */
    async function enableOtp(user: User): Promise<Authenticator> {
      const created = await call(
        'POST',
        `${mfaPath(user)}/otp-devices`,
        { 'RAX-AUTH:otpDevice': { name: 'app' } },
        user.token,
      );
      assert.equal(created.status, 201, JSON.stringify(created.body));
      const device = created.body['RAX-AUTH:otpDevice'] as { id: string; keyUri: string };
      const app = new Authenticator(secretOf(device.keyUri));
      const verified = await call(
        'POST',
        `${mfaPath(user)}/otp-devices/${device.id}/verify`,
        { 'RAX-AUTH:verificationCode': { code: await app.code() } },
        user.token,
      );
      assert.equal(verified.status, 204, JSON.stringify(verified.body));
      const enabled = await call(
        'PUT',
        mfaPath(user),
        { 'RAX-AUTH:multiFactor': { enabled: true } },
        user.token,
      );
      assert.equal(enabled.status, 204, JSON.stringify(enabled.body));
      return app;
    }

    function lastSms(to: string): string {
      const lines = fs.readFileSync(server.outbox, 'utf8').trim().split('\n');
      const messages = lines.map((line) => JSON.parse(line) as { to: string; body: string });
      const message = messages.reverse().find((sent) => sent.to === to);
      assert.ok(message, `an SMS to ${to} in the outbox`);
      return message.body;
    }

    async function enableSms(user: User, number: string): Promise<void> {
      const added = await call(
        'POST',
        `${mfaPath(user)}/mobile-phones`,
        { 'RAX-AUTH:mobilePhone': { number } },
        user.token,
      );
      assert.equal(added.status, 201, JSON.stringify(added.body));
      const phoneId = (added.body['RAX-AUTH:mobilePhone'] as { id: string }).id;
      const sent = await call(
        'POST',
        `${mfaPath(user)}/mobile-phones/${phoneId}/verificationcode`,
        undefined,
        user.token,
      );
      assert.equal(sent.status, 202, JSON.stringify(sent.body));
      const pin = /(\d{4})\D*$/.exec(lastSms(number))?.[1];
      const verified = await call(
        'POST',
        `${mfaPath(user)}/mobile-phones/${phoneId}/verify`,
        { 'RAX-AUTH:verificationCode': { code: pin } },
        user.token,
      );
      assert.equal(verified.status, 204, JSON.stringify(verified.body));
      const enabled = await call(
        'PUT',
        mfaPath(user),
        { 'RAX-AUTH:multiFactor': { enabled: true } },
        user.token,
      );
      assert.equal(enabled.status, 204, JSON.stringify(enabled.body));
    }

    /** The command of the issue: username and password, no domain given (the client sends default). */
    function openstackWithPassword(user: User, ...command: string[]): Promise<RunResult> {
      return runClean(
        OPENSTACK,
        [
          '--os-auth-url',
          `${server.url}/v3`,
          '--os-identity-api-version',
          '3',
          '--os-username',
          user.username,
          '--os-password',
          PASSWORD,
          ...command,
        ],
        dataDir,
      );
    }

    /** A clouds.yaml with v3multifactor, password and totp, in a directory of its own. */
    function cloudFor(user: User): string {
      const dir = fs.mkdtempSync(path.join(dataDir, 'cloud-'));
      fs.writeFileSync(
        path.join(dir, 'clouds.yaml'),
        [
          'clouds:',
          '  latchkey:',
          '    auth_type: v3multifactor',
          '    auth_methods: [v3password, v3totp]',
          '    auth:',
          `      auth_url: ${server.url}/v3`,
          `      username: ${user.username}`,
          `      password: ${PASSWORD}`,
          '      user_domain_id: default',
          '    identity_api_version: 3',
          '',
        ].join('\n'),
      );
      return dir;
    }

    function issuedTokenOf(result: RunResult): { id: string; user_id: string; project_id: string } {
      assert.equal(result.code, 0, `openstack failed: ${result.stderr}`);
      return JSON.parse(result.stdout) as { id: string; user_id: string; project_id: string };
    }

    function keystoneauth(...args: string[]): Promise<RunResult> {
      return runClean(PYTHON, ['-c', KEYSTONEAUTH_SCRIPT, ...args], dataDir);
    }

    function jsonOf(result: RunResult): Record<string, unknown> {
      assert.equal(result.code, 0, `python failed: ${result.stderr}`);
      return JSON.parse(result.stdout) as Record<string, unknown>;
    }

    /** A code the authenticator does not show one step before, now, or one step after. */
    function wrongCode(secret: string): string {
      const now = Date.now();
      const valid = new Set([-30_000, 0, 30_000, 60_000].map((offset) => totpAt(secret, now + offset)));
      for (let candidate = 0; ; candidate++) {
        const code = String(candidate).padStart(6, '0');
        if (!valid.has(code)) return code;
      }
    }

    let account: Account;
    let dropSchema: (() => Promise<void>) | undefined;
    before(async () => {
      dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'latchkey-v3-clients-'));
      server = await startServer(dataDir, await databaseUrlFor(dialect, dataDir));
      adminToken = await v2Token(ADMIN.username, ADMIN.password);
      account = await createAccount();
    });
    after(async () => {
      if (server?.child.exitCode === null) {
        const exited = new Promise((resolve) => server.child.once('exit', resolve));
        server.child.kill('SIGTERM');
        await exited;
      }
      fs.rmSync(dataDir, { recursive: true, force: true });
      await dropSchema?.();
    });

    async function databaseUrlFor(name: DialectName, dir: string): Promise<string> {
      if (name === 'sqlite') return `sqlite:${path.join(dir, 'latchkey.db')}`;
      const fresh = await freshPostgresSchema();
      dropSchema = fresh.drop;
      const url = new URL(fresh.url);
      url.searchParams.set('options', `-c search_path=${fresh.schema}`);
      return url.toString();
    }

    test('openstack token issue with a password; the token validates on v2.0', async () => {
      const user = await createUser(account, 'cli');
      const token = issuedTokenOf(await openstackWithPassword(user, 'token', 'issue', '-f', 'json'));
      assert.match(token.id, /^[0-9a-f]{32}$/);
      assert.equal(token.user_id, user.id);
      assert.equal(token.project_id, account.domainId);
      assert.deepEqual(await authenticatedByOnV2(token.id), ['PASSWORD']);
      assert.equal((await call('GET', `/v2.0/users/${user.id}`, undefined, token.id)).status, 200);
    });

    test('an authenticator user: the password alone is refused; v3multifactor with --os-passcode gives a token', async () => {
      const user = await createUser(account, 'otpcli');
      const app = await enableOtp(user);
      const alone = await openstackWithPassword(user, 'token', 'issue', '-f', 'json');
      assert.notEqual(alone.code, 0);
      assert.match(alone.stderr, /Not all required auth rules were satisfied: \[\['password', 'totp'\]\]/);

      const cloud = cloudFor(user);
      const passcode = await app.code();
      const result = await runClean(
        OPENSTACK,
        ['--os-cloud', 'latchkey', '--os-passcode', passcode, 'token', 'issue', '-f', 'json'],
        cloud,
      );
      const token = issuedTokenOf(result);
      assert.equal(token.user_id, user.id);
      assert.deepEqual(await authenticatedByOnV2(token.id), ['OTPPASSCODE', 'PASSWORD']);
    });

    test('a wrong --os-passcode is refused and counts toward the lockout', async () => {
      const user = await createUser(account, 'guesser');
      const app = await enableOtp(user);
      const cloud = cloudFor(user);
      const wrong = await runClean(
        OPENSTACK,
        ['--os-cloud', 'latchkey', '--os-passcode', wrongCode(app.secret), 'token', 'issue', '-f', 'json'],
        cloud,
      );
      assert.notEqual(wrong.code, 0);
      assert.match(wrong.stderr, /HTTP 401/);
      // Five more wrong codes on v2.0 are still tolerated: the CLI's was the first of six.
      const step1 = await call('POST', '/v2.0/tokens', {
        auth: { passwordCredentials: { username: user.username, password: PASSWORD } },
      });
      const sessionId = /sessionId='([^']+)'/.exec(step1.headers.get('www-authenticate') ?? '')?.[1] ?? '';
      const step2 = (code: string) =>
        fetch(`${server.url}/v2.0/tokens`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', 'x-sessionid': sessionId },
          body: JSON.stringify({ auth: { 'RAX-AUTH:passcodeCredentials': { passcode: code } } }),
        });
      for (let i = 0; i < 5; i++) assert.equal((await step2(wrongCode(app.secret))).status, 401);
      // The seventh wrong code locks.
      assert.equal((await step2(wrongCode(app.secret))).status, 403);
      const shown = await call('GET', `/v2.0/users/${user.id}`, undefined, adminToken);
      assert.equal((shown.body.user as Record<string, unknown>)['RAX-AUTH:multiFactorState'], 'LOCKED');
    });

    test('keystoneauth: MissingAuthMethods with a receipt, then TOTPMethod and ReceiptMethod give a token', async () => {
      const user = await createUser(account, 'ksa');
      const app = await enableOtp(user);
      const first = jsonOf(await keystoneauth('password', `${server.url}/v3`, user.username, PASSWORD));
      assert.equal(first.outcome, 'receipt');
      assert.deepEqual(first.methods, ['password']);
      assert.deepEqual(first.required, [['password', 'totp']]);
      const second = jsonOf(
        await keystoneauth(
          'receipt',
          `${server.url}/v3`,
          user.username,
          String(first.receipt),
          await app.code(),
        ),
      );
      assert.equal(second.user_id, user.id);
      assert.equal(second.project_id, account.domainId);
      assert.deepEqual(second.methods, ['password', 'totp']);
      assert.deepEqual(await authenticatedByOnV2(String(second.token)), ['OTPPASSCODE', 'PASSWORD']);
    });

    test('keystoneauth: an SMS user sends the texted code with the receipt', async () => {
      const user = await createUser(account, 'ksasms');
      const number = '+12015550190';
      await enableSms(user, number);
      const first = jsonOf(await keystoneauth('password', `${server.url}/v3`, user.username, PASSWORD));
      assert.equal(first.outcome, 'receipt');
      const passcode = /(\d{7})\D*$/.exec(lastSms(number))?.[1] ?? '';
      assert.match(passcode, /^\d{7}$/);
      const second = jsonOf(
        await keystoneauth('receipt', `${server.url}/v3`, user.username, String(first.receipt), passcode),
      );
      assert.equal(second.user_id, user.id);
      assert.deepEqual(await authenticatedByOnV2(String(second.token)), ['PASSCODE', 'PASSWORD']);
    });

    test('openstack token revoke: the token is refused on v2.0 too', async () => {
      const user = await createUser(account, 'revoke');
      const token = issuedTokenOf(await openstackWithPassword(user, 'token', 'issue', '-f', 'json'));
      assert.equal((await call('GET', `/v2.0/users/${user.id}`, undefined, token.id)).status, 200);
      const revoked = await openstackWithPassword(user, 'token', 'revoke', token.id);
      assert.equal(revoked.code, 0, revoked.stderr);
      assert.equal((await call('GET', `/v2.0/users/${user.id}`, undefined, token.id)).status, 401);
      assert.equal((await call('GET', `/v2.0/tokens/${token.id}`, undefined, adminToken)).status, 404);
    });

    test('policy: a user who must set up MFA is refused and told how; tightening revokes v3 tokens', async () => {
      const required = await createUser(account, 'required');
      const put = await call(
        'PUT',
        `/v2.0/users/${required.id}/RAX-AUTH/multi-factor`,
        { 'RAX-AUTH:multiFactor': { userMultiFactorEnforcementLevel: 'REQUIRED' } },
        account.ownerToken,
      );
      assert.equal(put.status, 204, JSON.stringify(put.body));
      const refused = await openstackWithPassword(required, 'token', 'issue', '-f', 'json');
      assert.notEqual(refused.code, 0);
      assert.match(refused.stderr, /User must setup multi-factor.*SETUP-MFA/);

      const tightened = await createAccount();
      const user = await createUser(tightened, 'tightened');
      const token = issuedTokenOf(await openstackWithPassword(user, 'token', 'issue', '-f', 'json'));
      const level = await call(
        'PUT',
        `/v2.0/RAX-AUTH/domains/${tightened.domainId}/multi-factor`,
        { 'RAX-AUTH:multiFactorDomain': { domainMultiFactorEnforcementLevel: 'REQUIRED' } },
        adminToken,
      );
      assert.equal(level.status, 204, JSON.stringify(level.body));
      assert.equal((await call('GET', `/v2.0/users/${user.id}`, undefined, token.id)).status, 401);
      const v3 = await fetch(`${server.url}/v3/auth/tokens`, {
        headers: { 'x-auth-token': adminToken, 'x-subject-token': token.id },
      });
      assert.equal(v3.status, 404);
    });
  });
}
