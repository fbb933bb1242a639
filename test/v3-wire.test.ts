import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Messages } from '../src/core/errors.js';
import { PasskeyMessages } from '../src/factors/passkeys/passkeys.js';
import { HEX32 } from './support/api.js';
import {
  createAccount,
  createAdmin,
  createTestEnv,
  createUserVia,
  dialects,
  type Response,
  type TestEnv,
  type TestUser,
} from './support/harness.js';
import { enableOtp, enableSms, givePasskey, lastSmsPasscode, sendPasscode, totpAt } from './support/mfa.js';

/** inject() reaches the app as `localhost:80`. */
const BASE = 'http://localhost:80';
const MINUTE = 60_000;

type UserRef = { id: string } | { name: string; domain: { id: string } | { name: string } };

interface KeystoneToken {
  methods: string[];
  user: { id: string; name: string; domain: { id: string; name: string }; password_expires_at: null };
  project?: { id: string; name: string; domain: { id: string; name: string } };
  roles?: { id: string; name: string }[];
  catalog?: {
    id: string;
    name: string;
    type: string;
    endpoints: {
      id: string;
      interface: string;
      region: string | null;
      region_id: string | null;
      url: string;
    }[];
  }[];
  expires_at: string;
  issued_at: string;
  audit_ids: string[];
}

const byName = (user: TestUser, domain: { id: string } | { name: string } = { id: 'default' }): UserRef => ({
  name: user.username,
  domain,
});

function passwordBody(user: UserRef, password: string, scope?: unknown) {
  return {
    auth: {
      identity: { methods: ['password'], password: { user: { ...user, password } } },
      ...(scope === undefined ? {} : { scope }),
    },
  };
}

function bothFactorsBody(user: UserRef, password: string, passcode: string) {
  return {
    auth: {
      identity: {
        methods: ['password', 'totp'],
        password: { user: { ...user, password } },
        totp: { user: { ...user, passcode } },
      },
    },
  };
}

function v3Login(env: TestEnv, body: unknown, headers: Record<string, string> = {}): Promise<Response> {
  return env.request('POST', '/v3/auth/tokens', { body, headers });
}

/** The follow-up of a receipt: the totp method alone, the receipt in its header. */
function receiptLogin(env: TestEnv, user: TestUser, receipt: string, passcode: string): Promise<Response> {
  return v3Login(
    env,
    { auth: { identity: { methods: ['totp'], totp: { user: { ...byName(user), passcode } } } } },
    { 'Openstack-Auth-Receipt': receipt },
  );
}

function tokenOf(response: Response): { id: string; token: KeystoneToken } {
  assert.equal(response.status, 201, response.text);
  const id = String(response.headers['x-subject-token']);
  assert.match(id, HEX32);
  return { id, token: response.body.token as unknown as KeystoneToken };
}

/** Keystone's error body and, on 401, where to authenticate. */
function assertKeystoneError(response: Response, code: number, message?: string | RegExp): void {
  assert.equal(response.status, code, response.text);
  assert.deepEqual(Object.keys(response.body), ['error']);
  const error = response.body.error as { code: number; title: string; message: string };
  assert.deepEqual(Object.keys(error).sort(), ['code', 'message', 'title']);
  assert.equal(error.code, code);
  assert.equal(typeof error.title, 'string');
  assert.notEqual(error.title, '');
  if (typeof message === 'string') assert.equal(error.message, message);
  if (message instanceof RegExp) assert.match(error.message, message);
  if (code === 401) assert.equal(response.headers['www-authenticate'], `Keystone uri="${BASE}/v3"`);
}

function receiptOf(response: Response): string {
  assert.equal(response.status, 401, response.text);
  const receipt = response.headers['openstack-auth-receipt'];
  assert.equal(typeof receipt, 'string', `a receipt header in ${JSON.stringify(response.headers)}`);
  return String(receipt);
}

/** The token as v2.0 sees it, validated by an administrator. */
async function v2View(env: TestEnv, admin: TestUser, tokenId: string): Promise<Response> {
  return env.request('GET', `/v2.0/tokens/${tokenId}`, { token: admin.token });
}

function authenticatedBy(response: Response): string[] {
  assert.equal(response.status, 200, response.text);
  return (response.body.access as { token: { 'RAX-AUTH:authenticatedBy': string[] } }).token[
    'RAX-AUTH:authenticatedBy'
  ];
}

/** A passcode the authenticator does not show now, one step before or one step after. */
function wrongCode(secret: string, now: number): string {
  const valid = new Set([-30_000, 0, 30_000].map((offset) => totpAt(secret, now + offset)));
  for (let candidate = 0; ; candidate++) {
    const code = String(candidate).padStart(6, '0');
    if (!valid.has(code)) return code;
  }
}

for (const dialect of dialects()) {
  describe(`OpenStack Identity v3 wire format (${dialect})`, () => {
    let env: TestEnv;
    let admin: TestUser;
    let owner: TestUser;
    before(async () => {
      const dir = fs.mkdtempSync(path.join(process.env.TMPDIR ?? '/tmp', 'latchkey-v3-catalog-'));
      const catalogFile = path.join(dir, 'catalog.json');
      fs.writeFileSync(
        catalogFile,
        JSON.stringify([
          {
            name: 'cloudServersOpenStack',
            type: 'compute',
            endpoints: [
              {
                region: 'DFW',
                tenantId: '{tenantId}',
                publicURL: 'https://dfw.servers.example.com/v2/{tenantId}',
                internalURL: 'https://snet.dfw.servers.example.com/v2/{tenantId}',
              },
            ],
          },
        ]),
      );
      env = await createTestEnv({ dialect, env: { LATCHKEY_CATALOG_FILE: catalogFile } });
      admin = await createAdmin(env);
      owner = await createAccount(env, admin);
    });
    after(() => env.close());

    describe('version discovery', () => {
      test('GET / answers 300 with both versions, v3 preferred', async () => {
        for (const accept of [undefined, 'application/json', '*/*']) {
          const response = await env.request('GET', '/', accept ? { headers: { accept } } : {});
          assert.equal(response.status, 300, response.text);
          assert.equal(response.headers.location, `${BASE}/v3/`);
          const values = (response.body.versions as { values: { id: string; status: string }[] }).values;
          assert.deepEqual(
            values.map((version) => [version.id, version.status]),
            [
              ['v3.0', 'stable'],
              ['v2.0', 'stable'],
            ],
          );
        }
      });

      test('GET / for a browser is the control panel, not the version list', async () => {
        const response = await env.request('GET', '/', {
          headers: { accept: 'text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8' },
        });
        assert.equal(response.status, 303);
        assert.equal(response.headers.location, '/sign-in');
      });

      test('every version GET / lists answers at its link: GET /v2.0/ is the v2.0 version document', async () => {
        const listed = await env.request('GET', '/');
        const values = (listed.body.versions as { values: { id: string; links: { href: string }[] }[] })
          .values;
        for (const version of values) {
          const href = version.links[0]?.href ?? '';
          const answer = await env.request('GET', href.slice(BASE.length));
          assert.equal(answer.status, 200, `${href}: ${answer.text}`);
          assert.equal((answer.body.version as { id: string }).id, version.id);
        }
      });

      test('GET /v3 answers the v3 version document', async () => {
        const response = await env.request('GET', '/v3');
        assert.equal(response.status, 200, response.text);
        assert.deepEqual(response.body, {
          version: {
            id: 'v3.0',
            status: 'stable',
            updated: '2026-11-22T00:00:00Z',
            links: [{ rel: 'self', href: `${BASE}/v3/` }],
            'media-types': [{ base: 'application/json', type: 'application/vnd.openstack.identity-v3+json' }],
          },
        });
        assert.equal((await env.request('GET', '/v3/')).status, 200);
      });
    });

    describe('password tokens', () => {
      test('a password gives 201, X-Subject-Token and the Keystone token body', async () => {
        const user = await createUserVia(env, owner, 'plain');
        const response = await v3Login(env, passwordBody(byName(user), user.password));
        const { id, token } = tokenOf(response);
        const domain = { id: owner.domainId, name: owner.domainId };
        assert.deepEqual(token.methods, ['password']);
        assert.deepEqual(token.user, { id: user.id, name: user.username, domain, password_expires_at: null });
        assert.deepEqual(token.project, { id: owner.domainId, name: owner.domainId, domain });
        assert.deepEqual(token.roles, [{ id: '2', name: 'identity:default' }]);
        assert.equal(token.issued_at, new Date(env.clock.now()).toISOString());
        assert.equal(Date.parse(token.expires_at) - Date.parse(token.issued_at), 24 * 60 * MINUTE);
        assert.equal(token.audit_ids.length, 1);
        assert.match(token.audit_ids[0] ?? '', /^[A-Za-z0-9_-]{22}$/);
        assert.ok(!JSON.stringify(token).includes(id), 'the token id appears only in X-Subject-Token');

        const identity = token.catalog?.find((service) => service.type === 'identity');
        assert.deepEqual(
          identity?.endpoints.map((endpoint) => [
            endpoint.interface,
            endpoint.region,
            endpoint.region_id,
            endpoint.url,
          ]),
          [
            ['public', 'DFW', 'DFW', `${BASE}/v3`],
            ['internal', 'DFW', 'DFW', `${BASE}/v3`],
            ['admin', 'DFW', 'DFW', `${BASE}/v3`],
          ],
        );
        const compute = token.catalog?.find((service) => service.type === 'compute');
        assert.equal(compute?.name, 'cloudServersOpenStack');
        assert.match(compute?.id ?? '', HEX32);
        assert.deepEqual(
          compute?.endpoints.map((endpoint) => [endpoint.interface, endpoint.region_id, endpoint.url]),
          [
            ['public', 'DFW', `https://dfw.servers.example.com/v2/${owner.domainId}`],
            ['internal', 'DFW', `https://snet.dfw.servers.example.com/v2/${owner.domainId}`],
          ],
        );

        const v2 = await v2View(env, admin, id);
        assert.deepEqual(authenticatedBy(v2), ['PASSWORD']);
        const onV2 = await env.request('GET', `/v2.0/users/${user.id}`, { token: id });
        assert.equal(onV2.status, 200, 'a v3 token works as X-Auth-Token on v2.0');
      });

      test('?nocatalog leaves the catalog out', async () => {
        const response = await env.request('POST', '/v3/auth/tokens?nocatalog', {
          body: passwordBody(byName(owner), owner.password),
        });
        assert.equal(tokenOf(response).token.catalog, undefined);
      });

      test('a user is found by id, by name in default, or by name in its account by id or name', async () => {
        const user = await createUserVia(env, owner, 'named');
        const domainId = owner.domainId ?? '';
        for (const ref of [
          { id: user.id },
          byName(user),
          byName(user, { name: 'Default' }),
          byName(user, { id: domainId }),
          byName(user, { name: domainId }),
          { name: user.username.toUpperCase(), domain: { id: 'default' } },
        ]) {
          const { token } = tokenOf(await v3Login(env, passwordBody(ref, user.password)));
          assert.equal(token.user.id, user.id, JSON.stringify(ref));
        }
      });

      test('a user named in another domain, an unknown user and a wrong password get one 401', async () => {
        const user = await createUserVia(env, owner, 'elsewhere');
        const other = await createAccount(env, admin);
        const answers = [
          await v3Login(env, passwordBody(byName(user, { id: other.domainId ?? '' }), user.password)),
          await v3Login(env, passwordBody(byName(user, { name: 'no-such-domain' }), user.password)),
          await v3Login(env, passwordBody({ name: 'nobody', domain: { id: 'default' } }, user.password)),
          await v3Login(env, passwordBody({ id: '0123456789abcdef0123456789abcdef' }, user.password)),
          await v3Login(env, passwordBody(byName(user), 'Wrongpass1')),
        ];
        for (const response of answers) assertKeystoneError(response, 401, Messages.badPassword);
      });

      test('users without an account are in domain default and get an unscoped token, as Keystone renders it', async () => {
        const { token } = tokenOf(await v3Login(env, passwordBody(byName(admin), admin.password)));
        assert.deepEqual(token.user.domain, { id: 'default', name: 'Default' });
        assert.equal(token.project, undefined);
        // Keystone's unscoped token: no roles and no catalog.
        assert.equal(token.roles, undefined);
        assert.equal(token.catalog, undefined);
      });

      test('project scope: the account by id or name; another project is refused', async () => {
        const domainId = owner.domainId ?? '';
        for (const project of [{ id: domainId }, { name: domainId, domain: { id: domainId } }]) {
          const response = await v3Login(env, passwordBody(byName(owner), owner.password, { project }));
          assert.equal(tokenOf(response).token.project?.id, domainId);
        }
        const unscoped = await v3Login(env, passwordBody(byName(owner), owner.password, 'unscoped'));
        assert.equal(unscoped.status, 201, unscoped.text);
        const other = await v3Login(
          env,
          passwordBody(byName(owner), owner.password, { project: { id: '999' } }),
        );
        assertKeystoneError(other, 401, Messages.tenantNotAuthorized);
        for (const scope of [
          { domain: { id: domainId } },
          { system: { all: true } },
          { 'OS-TRUST:trust': { id: 'x' } },
        ]) {
          assertKeystoneError(await v3Login(env, passwordBody(byName(owner), owner.password, scope)), 400);
        }
      });

      test('the token method answers the same token, listing token first', async () => {
        const first = tokenOf(await v3Login(env, passwordBody(byName(owner), owner.password)));
        const again = await v3Login(env, {
          auth: { identity: { methods: ['token'], token: { id: first.id } } },
        });
        const { id, token } = tokenOf(again);
        assert.equal(id, first.id);
        assert.deepEqual(token.methods, ['token', 'password']);
        assert.equal(token.issued_at, first.token.issued_at);
      });
    });

    describe('multi-factor', () => {
      test("a passkey user's password alone answers a receipt for a passcode, saying passkeys work in the panel, as v2.0 does", async () => {
        const user = await createUserVia(env, owner, 'passkey');
        const secret = await enableOtp(env, user);
        // A passkey made the default (test/panel-passkeys.test.ts adds one in a browser).
        await givePasskey(env, user, 'Laptop');
        await env.deps.db
          .updateTable('users')
          .set({ factor_type: 'PASSKEY' })
          .where('id', '=', user.id)
          .execute();

        const refused = await v3Login(env, passwordBody(byName(user), user.password));
        const receipt = receiptOf(refused);
        assert.deepEqual(refused.body.required_auth_methods, [['password', 'totp']]);
        const message = `${Messages.challenge} ${PasskeyMessages.apiChallenge}`;
        assert.deepEqual(refused.body.error, { code: 401, title: 'Unauthorized', message });
        const v2 = await env.request('POST', '/v2.0/tokens', {
          body: { auth: { passwordCredentials: { username: user.username, password: user.password } } },
        });
        assert.equal(v2.body.unauthorized?.message, message, 'the same words as v2.0');

        // The receipt is answered with a passcode from the authenticator, as the message says.
        const { token } = tokenOf(await receiptLogin(env, user, receipt, totpAt(secret, env.clock.now())));
        assert.deepEqual(token.methods, ['password', 'totp']);
      });

      test('a password alone answers a receipt; the receipt and a passcode give the token', async () => {
        const user = await createUserVia(env, owner, 'otp');
        const secret = await enableOtp(env, user);
        const refused = await v3Login(env, passwordBody(byName(user), user.password));
        const receipt = receiptOf(refused);
        assert.match(receipt, /^[A-Za-z0-9_-]{43}$/);
        assert.equal(refused.headers['www-authenticate'], `Keystone uri="${BASE}/v3"`);
        const now = env.clock.now();
        assert.deepEqual(refused.body, {
          receipt: {
            expires_at: new Date(now + 5 * MINUTE).toISOString(),
            issued_at: new Date(now).toISOString(),
            methods: ['password'],
            user: { id: user.id, name: user.username, domain: { id: owner.domainId, name: owner.domainId } },
          },
          required_auth_methods: [['password', 'totp']],
        });

        const { id, token } = tokenOf(
          await receiptLogin(env, user, receipt, totpAt(secret, env.clock.now())),
        );
        assert.deepEqual(token.methods, ['password', 'totp']);
        assert.deepEqual(authenticatedBy(await v2View(env, admin, id)), ['OTPPASSCODE', 'PASSWORD']);

        env.clock.advance(30_000);
        const reused = await receiptLogin(env, user, receipt, totpAt(secret, env.clock.now()));
        assertKeystoneError(reused, 401, Messages.sessionRejected);
      });

      test('password and totp in one request give the token', async () => {
        const user = await createUserVia(env, owner, 'both');
        const secret = await enableOtp(env, user);
        const response = await v3Login(
          env,
          bothFactorsBody({ id: user.id }, user.password, totpAt(secret, env.clock.now())),
        );
        const { id, token } = tokenOf(response);
        assert.deepEqual(token.methods, ['password', 'totp']);
        assert.deepEqual(authenticatedBy(await v2View(env, admin, id)), ['OTPPASSCODE', 'PASSWORD']);
      });

      test('a receipt lasts five minutes', async () => {
        const user = await createUserVia(env, owner, 'slow');
        const secret = await enableOtp(env, user);
        const receipt = receiptOf(await v3Login(env, passwordBody(byName(user), user.password)));
        env.clock.advance(5 * MINUTE);
        const late = await receiptLogin(env, user, receipt, totpAt(secret, env.clock.now()));
        assertKeystoneError(late, 401, Messages.sessionExpired);
      });

      test('the receipt is an OS-MF session: it completes a v2.0 step 2, and a v2.0 session is a receipt', async () => {
        const user = await createUserVia(env, owner, 'crossing');
        const secret = await enableOtp(env, user);
        const receipt = receiptOf(await v3Login(env, passwordBody(byName(user), user.password)));
        const v2 = await sendPasscode(env, receipt, totpAt(secret, env.clock.now()));
        assert.deepEqual(authenticatedBy(v2), ['OTPPASSCODE', 'PASSWORD']);

        env.clock.advance(30_000);
        const step1 = await env.request('POST', '/v2.0/tokens', {
          body: { auth: { passwordCredentials: { username: user.username, password: user.password } } },
        });
        const sessionId = /sessionId='([^']+)'/.exec(String(step1.headers['www-authenticate']))?.[1] ?? '';
        tokenOf(await receiptLogin(env, user, sessionId, totpAt(secret, env.clock.now())));
      });

      test('wrong passcodes on v3 and v2.0 share one lockout counter', async () => {
        const user = await createUserVia(env, owner, 'guessed');
        const secret = await enableOtp(env, user);
        const wrong = () => wrongCode(secret, env.clock.now());
        for (let i = 0; i < 2; i++) {
          const response = await v3Login(env, bothFactorsBody(byName(user), user.password, wrong()));
          assertKeystoneError(response, 401, Messages.wrongPasscode);
        }
        const receipt = receiptOf(await v3Login(env, passwordBody(byName(user), user.password)));
        for (let i = 0; i < 2; i++) assertKeystoneError(await receiptLogin(env, user, receipt, wrong()), 401);
        for (let i = 0; i < 2; i++) assert.equal((await sendPasscode(env, receipt, wrong())).status, 401);
        // The seventh wrong passcode, whatever API it came through, locks.
        const seventh = await v3Login(env, bothFactorsBody(byName(user), user.password, wrong()));
        assertKeystoneError(seventh, 403, Messages.locked);
        const right = await v3Login(
          env,
          bothFactorsBody(byName(user), user.password, totpAt(secret, env.clock.now())),
        );
        assertKeystoneError(right, 401, Messages.locked);
        assertKeystoneError(
          await v3Login(env, passwordBody(byName(user), user.password)),
          401,
          Messages.locked,
        );
      });

      test('an SMS user gets the passcode at the receipt step and sends it as the totp passcode', async () => {
        const user = await createUserVia(env, owner, 'texted');
        await enableSms(env, user, '+12015550177');
        const before = env.sms.sent.length;
        const receipt = receiptOf(await v3Login(env, passwordBody(byName(user), user.password)));
        assert.equal(env.sms.sent.length, before + 1, 'one SMS at the receipt step');
        const { id, token } = tokenOf(
          await receiptLogin(env, user, receipt, lastSmsPasscode(env, '+12015550177')),
        );
        assert.deepEqual(token.methods, ['password', 'totp']);
        assert.deepEqual(authenticatedBy(await v2View(env, admin, id)), ['PASSCODE', 'PASSWORD']);
      });

      test('bypass codes and temporary codes are accepted as the totp passcode', async () => {
        const user = await createUserVia(env, owner, 'recovering');
        await enableSms(env, user, '+12015550178');
        const batch = await env.request('POST', `/v2.0/users/${user.id}/RAX-AUTH/multi-factor/bypass-codes`, {
          token: admin.token,
          body: { 'RAX-AUTH:bypassCodes': { validityDuration: 'PT30M' } },
        });
        assert.equal(batch.status, 200, batch.text);
        const [bypass] = (batch.body['RAX-AUTH:bypassCodes'] as { codes: string[] }).codes;
        const first = receiptOf(await v3Login(env, passwordBody(byName(user), user.password)));
        const viaBypass = tokenOf(await receiptLogin(env, user, first, bypass ?? ''));
        assert.deepEqual(authenticatedBy(await v2View(env, admin, viaBypass.id)), ['PASSCODE', 'PASSWORD']);

        const sent = await env.request(
          'POST',
          `/v2.0/users/${user.id}/RAX-AUTH/multi-factor/temporary-code`,
          {
            token: admin.token,
          },
        );
        assert.equal(sent.status, 202, sent.text);
        const temporary = /(\d{8})$/.exec(env.sms.last('+12015550178')?.body ?? '')?.[1] ?? '';
        const second = receiptOf(await v3Login(env, passwordBody(byName(user), user.password)));
        tokenOf(await receiptLogin(env, user, second, temporary));
      });

      test('a user of a REQUIRED account without MFA is refused, told how to set it up', async () => {
        const user = await createUserVia(env, owner, 'required');
        const put = await env.request('PUT', `/v2.0/users/${user.id}/RAX-AUTH/multi-factor`, {
          token: owner.token,
          body: { 'RAX-AUTH:multiFactor': { userMultiFactorEnforcementLevel: 'REQUIRED' } },
        });
        assert.equal(put.status, 204, put.text);
        for (const body of [
          passwordBody(byName(user), user.password),
          bothFactorsBody(byName(user), user.password, '123456'),
        ]) {
          const refused = await v3Login(env, body);
          assertKeystoneError(refused, 403, /^User must setup multi-factor.*SETUP-MFA/);
        }
      });

      test('a user without MFA who sends a passcode too is refused', async () => {
        const user = await createUserVia(env, owner, 'nomfa');
        const response = await v3Login(env, bothFactorsBody(byName(user), user.password, '123456'));
        assertKeystoneError(response, 401, /no multi-factor authentication/);
      });

      test('tightening the policy revokes v3 password tokens', async () => {
        const account = await createAccount(env, admin);
        const user = await createUserVia(env, account, 'tightened');
        const { id } = tokenOf(await v3Login(env, passwordBody(byName(user), user.password)));
        const put = await env.request('PUT', `/v2.0/RAX-AUTH/domains/${account.domainId}/multi-factor`, {
          token: admin.token,
          body: { 'RAX-AUTH:multiFactorDomain': { domainMultiFactorEnforcementLevel: 'REQUIRED' } },
        });
        assert.equal(put.status, 204, put.text);
        const check = await env.request('GET', '/v3/auth/tokens', {
          token: admin.token,
          headers: { 'x-subject-token': id },
        });
        assertKeystoneError(check, 404);
        assert.equal((await env.request('GET', `/v2.0/users/${user.id}`, { token: id })).status, 401);
      });
    });

    describe('GET, HEAD and DELETE /v3/auth/tokens', () => {
      const check = (method: string, auth: string, subject: string) =>
        env.request(method, '/v3/auth/tokens', { token: auth, headers: { 'x-subject-token': subject } });
      const issue = async (user: TestUser) =>
        tokenOf(await v3Login(env, passwordBody(byName(user), user.password))).id;

      test('the token own user validates any of its tokens; HEAD answers without a body', async () => {
        const user = await createUserVia(env, owner, 'self');
        const [first, second] = [await issue(user), await issue(user)];
        const got = await check('GET', first, second);
        assert.equal(got.status, 200, got.text);
        assert.equal(got.headers['x-subject-token'], second);
        assert.equal((got.body.token as unknown as KeystoneToken).user.id, user.id);
        const head = await check('HEAD', first, first);
        assert.equal(head.status, 200);
        assert.equal(head.text, '');
      });

      test('others: administrators and the account owner may; a sibling learns nothing', async () => {
        const user = await createUserVia(env, owner, 'subject');
        const sibling = await createUserVia(env, owner, 'sibling');
        const stranger = await createAccount(env, admin);
        const subject = await issue(user);
        assert.equal((await check('GET', admin.token, subject)).status, 200);
        assert.equal((await check('GET', owner.token, subject)).status, 200);
        assertKeystoneError(await check('GET', sibling.token, subject), 404, Messages.tokenNotFound);
        assertKeystoneError(await check('GET', stranger.token, subject), 403);
        assertKeystoneError(await check('DELETE', sibling.token, subject), 404);
      });

      test('DELETE by the token own user revokes it on every API', async () => {
        const user = await createUserVia(env, owner, 'revoker');
        const [keep, drop] = [await issue(user), await issue(user)];
        assert.equal((await check('DELETE', keep, drop)).status, 204);
        assert.equal((await env.request('GET', `/v2.0/users/${user.id}`, { token: drop })).status, 401);
        assert.equal((await v2View(env, admin, drop)).status, 404);
        assertKeystoneError(await check('GET', keep, drop), 404);
        assertKeystoneError(await check('DELETE', keep, drop), 404);
      });

      test('no X-Auth-Token: 401; no X-Subject-Token: 404', async () => {
        const anonymous = await env.request('GET', '/v3/auth/tokens', {
          headers: { 'x-subject-token': owner.token },
        });
        assertKeystoneError(anonymous, 401, Messages.noToken);
        assertKeystoneError(await env.request('GET', '/v3/auth/tokens', { token: owner.token }), 404);
      });
    });

    describe('errors in Keystone format', () => {
      test('malformed requests: 400', async () => {
        for (const body of [
          {},
          { auth: {} },
          { auth: { identity: { methods: [] } } },
          { auth: { identity: { methods: 'password' } } },
          { auth: { identity: { methods: ['password'] } } },
          { auth: { identity: { methods: ['password'], password: { user: { name: 'x', password: 'y' } } } } },
          { auth: { identity: { methods: ['password'], password: { user: { id: 'x' } } } } },
          { auth: { identity: { methods: ['password', 'password'], password: {} } } },
          {
            auth: {
              identity: {
                methods: ['password', 'totp'],
                password: { user: { id: owner.id, password: 'x' } },
              },
            },
          },
          bothFactorsBody({ id: owner.id }, owner.password, ''),
        ]) {
          assertKeystoneError(await v3Login(env, body), 400);
        }
        const invalidJson = await env.request('POST', '/v3/auth/tokens', {
          body: '{"auth":',
          headers: { 'content-type': 'application/json' },
        });
        assertKeystoneError(invalidJson, 400);
        const text = await env.request('POST', '/v3/auth/tokens', {
          body: 'auth',
          headers: { 'content-type': 'text/plain' },
        });
        assertKeystoneError(text, 415);
      });

      test('unsupported methods and a passcode alone: 401', async () => {
        const unsupported = await v3Login(env, {
          auth: { identity: { methods: ['application_credential'], application_credential: {} } },
        });
        assertKeystoneError(unsupported, 401, 'Attempted to authenticate with an unsupported method.');
        const alone = await v3Login(env, {
          auth: { identity: { methods: ['totp'], totp: { user: { id: owner.id, passcode: '123456' } } } },
        });
        assertKeystoneError(alone, 401, /A totp passcode alone is not enough/);
      });

      test('an unknown path 404s and a wrong method 405s', async () => {
        assertKeystoneError(await env.request('GET', '/v3/users'), 404);
        const put = await env.request('PUT', '/v3/auth/tokens', { body: {} });
        assertKeystoneError(put, 405);
        assert.match(String(put.headers.allow), /POST/);
      });

      test('a SETUP-MFA token cannot be turned into a v3 token', async () => {
        const user = await createUserVia(env, owner, 'setup');
        await env.deps.db
          .updateTable('users')
          .set({ mfa_enforcement: 'REQUIRED' })
          .where('id', '=', user.id)
          .execute();
        const setup = await env.request('POST', '/v2.0/tokens', {
          body: {
            auth: {
              'RAX-AUTH:scope': 'SETUP-MFA',
              passwordCredentials: { username: user.username, password: user.password },
            },
          },
        });
        const setupToken = (setup.body.access as { token: { id: string } }).token.id;
        const response = await v3Login(env, {
          auth: { identity: { methods: ['token'], token: { id: setupToken } } },
        });
        assertKeystoneError(response, 403, Messages.scopeForbids);
        assertKeystoneError(await check(env, setupToken, setupToken), 403);
      });
    });
  });
}

function check(env: TestEnv, auth: string, subject: string): Promise<Response> {
  return env.request('GET', '/v3/auth/tokens', { token: auth, headers: { 'x-subject-token': subject } });
}

describe('no v3 secret reaches the log', () => {
  let env: TestEnv;
  before(async () => {
    env = await createTestEnv({ env: { LATCHKEY_LOG_LEVEL: 'trace' } });
  });
  after(() => env.close());

  test('passwords, passcodes, receipts and token ids stay out of the log', async () => {
    const admin = await createAdmin(env);
    const owner = await createAccount(env, admin);
    const user = await createUserVia(env, owner, 'logged');
    const secret = await enableOtp(env, user);
    const receipt = receiptOf(await v3Login(env, passwordBody(byName(user), user.password)));
    const wrong = wrongCode(secret, env.clock.now());
    assert.equal((await receiptLogin(env, user, receipt, wrong)).status, 401);
    const passcode = totpAt(secret, env.clock.now());
    const { id } = tokenOf(await receiptLogin(env, user, receipt, passcode));
    assert.equal((await check(env, id, id)).status, 200);
    assert.equal(
      (await env.request('DELETE', '/v3/auth/tokens', { token: id, headers: { 'x-subject-token': id } }))
        .status,
      204,
    );
    const log = env.logs.join('');
    assert.ok(log.includes('/v3/auth/tokens'), 'the v3 requests were logged');
    for (const value of [user.password, secret, receipt, wrong, passcode, id]) {
      assert.ok(!log.includes(value), `${value.slice(0, 4)}… is not in the log`);
    }
  });
});
