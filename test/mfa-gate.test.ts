import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { type Credentials, login, TOKEN_ISSUING_PATHS } from '../src/auth/login.js';
import { PASSKEY_REFUSED } from '../src/auth/passkey-step.js';
import { ApiError, Messages } from '../src/core/errors.js';
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
import { enableOtp, sendPasscode, startMfaLogin, totpAt } from './support/mfa.js';

type UserKind = 'mfa' | 'requiredWithoutMfa' | 'locked' | 'disabled';
type PathName = (typeof TOKEN_ISSUING_PATHS)[number] | 'setupMfa';

interface Subject {
  user: TestUser;
  /** An API-key token taken before the user reached this state, for the token path. */
  apiKeyToken: string;
  /** An OS-MF session opened before the user reached this state, where one could be. */
  sessionId?: string;
  secret?: string;
}

type Expectation = (response: Response, subject: Subject) => void;

const status =
  (code: number, fault?: string, message?: string | RegExp): Expectation =>
  (response) => {
    assert.equal(response.status, code, response.text);
    if (fault) {
      const body = response.body[fault];
      assert.ok(body, `fault ${fault} in ${response.text}`);
      if (typeof message === 'string') assert.equal(body.message, message);
      if (message instanceof RegExp) assert.match(String(body.message), message);
    }
  };

const issued =
  (...authenticatedBy: string[]): Expectation =>
  (response) => {
    assert.equal(response.status, 200, response.text);
    const token = (response.body.access as { token: Record<string, unknown> }).token;
    assert.deepEqual(token['RAX-AUTH:authenticatedBy'], authenticatedBy);
  };

/** A v3 token answer (201, X-Subject-Token) obtained with these Keystone methods. */
const issuedV3 =
  (...methods: string[]): Expectation =>
  (response) => {
    assert.equal(response.status, 201, response.text);
    assert.match(String(response.headers['x-subject-token']), /^[0-9a-f]{32}$/);
    assert.deepEqual((response.body.token as { methods: string[] }).methods, methods);
  };

const challenged: Expectation = (response) => {
  assert.equal(response.status, 401);
  assert.match(
    String(response.headers['www-authenticate']),
    /^OS-MF sessionId='[^']+', factor='OTPPASSCODE'$/,
  );
};

/**
 * Every token-issuing path against every kind of user. The table's keys must match
 * TOKEN_ISSUING_PATHS, so a new path fails here until its MFA behaviour is decided.
 */
const EXPECTED: Record<PathName, Record<UserKind, Expectation>> = {
  password: {
    mfa: challenged,
    requiredWithoutMfa: status(403, 'forbidden', Messages.mustSetupMfa),
    locked: status(401, 'unauthorized', Messages.locked),
    disabled: status(403, 'userDisabled', /is disabled/),
  },
  setupMfa: {
    mfa: status(403, 'forbidden', Messages.scopeNotSupported),
    requiredWithoutMfa: (response) => {
      issued('PASSWORD')(response, {} as Subject);
      const access = response.body.access as Record<string, unknown>;
      assert.equal((access.token as Record<string, unknown>)['RAX-AUTH:scope'], 'SETUP-MFA');
      assert.equal(access.serviceCatalog, undefined, 'a SETUP-MFA token has no catalog');
    },
    // The lock answers first, for a right password as for a wrong one: a scope refusal here
    // would tell the two apart.
    locked: status(401, 'unauthorized', Messages.locked),
    disabled: status(403, 'userDisabled', /is disabled/),
  },
  apiKey: {
    mfa: issued('APIKEY'),
    requiredWithoutMfa: issued('APIKEY'),
    locked: issued('APIKEY'),
    disabled: status(403, 'userDisabled', /is disabled/),
  },
  token: {
    mfa: issued('APIKEY'),
    requiredWithoutMfa: issued('APIKEY'),
    locked: issued('APIKEY'),
    // Disabling revoked every token of the user.
    disabled: status(401, 'unauthorized', Messages.badToken),
  },
  passcode: {
    mfa: issued('OTPPASSCODE', 'PASSWORD'),
    requiredWithoutMfa: status(401, 'unauthorized', Messages.sessionRejected),
    locked: status(403, 'forbidden', Messages.locked),
    // Disabling ended the half-finished MFA login too.
    disabled: status(401, 'unauthorized', Messages.sessionRejected),
  },
  // OpenStack Identity v3 `["password","totp"]`: both factors in one request.
  passwordAndPasscode: {
    mfa: issuedV3('password', 'totp'),
    requiredWithoutMfa: status(403, 'error', /^User must setup multi-factor/),
    // The password step already answers for a locked user, as a v2.0 step 1 does.
    locked: status(401, 'error', Messages.locked),
    disabled: status(403, 'error', /is disabled/),
  },
  // The panel's passkey step: an answer that no registered passkey signed is refused like a wrong
  // passcode (and counts toward the same lock).
  passkey: {
    mfa: status(401, 'unauthorized', PASSKEY_REFUSED),
    requiredWithoutMfa: status(401, 'unauthorized', Messages.sessionRejected),
    locked: status(403, 'forbidden', Messages.locked),
    disabled: status(401, 'unauthorized', Messages.sessionRejected),
  },
  // The panel's sign-in with a passkey alone: nothing but a registered passkey's signature.
  passkeyAlone: {
    mfa: status(401, 'unauthorized', PASSKEY_REFUSED),
    requiredWithoutMfa: status(401, 'unauthorized', PASSKEY_REFUSED),
    locked: status(401, 'unauthorized', PASSKEY_REFUSED),
    disabled: status(401, 'unauthorized', PASSKEY_REFUSED),
  },
};

/** A well-formed WebAuthn answer that no authenticator signed. */
function forgedAssertion(): Extract<Credentials, { type: 'passkeyAlone' }>['response'] {
  const b64 = (value: Buffer | string) => Buffer.from(value).toString('base64url');
  const clientData = { type: 'webauthn.get', challenge: b64('not-ours'), origin: 'http://localhost' };
  return {
    id: b64('forged-credential'),
    rawId: b64('forged-credential'),
    type: 'public-key',
    clientExtensionResults: {},
    response: {
      clientDataJSON: b64(JSON.stringify(clientData)),
      authenticatorData: b64(
        Buffer.concat([Buffer.alloc(32, 1), Buffer.from([0x05]), Buffer.from([0, 0, 0, 9])]),
      ),
      signature: b64('signature'),
    },
  };
}

/** The panel's passkey paths call the pipeline directly: an ApiError read as an API answer. */
async function panelLogin(env: TestEnv, credentials: Credentials): Promise<Response> {
  try {
    const result = await login(env.deps, {
      credentials,
      scope: null,
      source: '203.0.113.9',
      passkeyPrompt: true,
    });
    return {
      status: 200,
      body: { result: result.kind },
      text: result.kind,
      headers: {},
    } as unknown as Response;
  } catch (error) {
    if (!(error instanceof ApiError)) throw error;
    const body = error.toBody();
    return { status: error.status, body, text: JSON.stringify(body), headers: {} } as unknown as Response;
  }
}

async function attempt(env: TestEnv, path: PathName, subject: Subject): Promise<Response> {
  const { user } = subject;
  const passwordCredentials = { username: user.username, password: user.password };
  switch (path) {
    case 'password':
      return env.request('POST', '/v2.0/tokens', { body: { auth: { passwordCredentials } } });
    case 'setupMfa':
      return env.request('POST', '/v2.0/tokens', {
        body: { auth: { 'RAX-AUTH:scope': 'SETUP-MFA', passwordCredentials } },
      });
    case 'apiKey':
      return env.request('POST', '/v2.0/tokens', {
        body: { auth: { 'RAX-KSKEY:apiKeyCredentials': { username: user.username, apiKey: user.apiKey } } },
      });
    case 'token':
      return env.request('POST', '/v2.0/tokens', {
        body: { auth: { tenantId: user.domainId, token: { id: subject.apiKeyToken } } },
      });
    case 'passcode': {
      const passcode = subject.secret ? totpAt(subject.secret, env.clock.now()) : '123456';
      return sendPasscode(env, subject.sessionId ?? 'no-session-could-be-opened', passcode);
    }
    case 'passwordAndPasscode': {
      const passcode = subject.secret ? totpAt(subject.secret, env.clock.now()) : '123456';
      const userRef = { name: user.username, domain: { id: 'default' } };
      return env.request('POST', '/v3/auth/tokens', {
        body: {
          auth: {
            identity: {
              methods: ['password', 'totp'],
              password: { user: { ...userRef, password: user.password } },
              totp: { user: { ...userRef, passcode } },
            },
          },
        },
      });
    }
    case 'passkey':
      return panelLogin(env, {
        type: 'passkey',
        sessionIds: [subject.sessionId ?? 'no-session-could-be-opened'],
        response: forgedAssertion(),
      });
    case 'passkeyAlone':
      return panelLogin(env, { type: 'passkeyAlone', response: forgedAssertion() });
  }
}

for (const dialect of dialects()) {
  describe(`every token-issuing path is an MFA gate (${dialect})`, () => {
    let env: TestEnv;
    let admin: TestUser;
    let owner: TestUser;
    before(async () => {
      env = await createTestEnv({ dialect });
      admin = await createAdmin(env);
      owner = await createAccount(env, admin);
    });
    after(() => env.close());

    test('the table classifies exactly the paths that issue tokens', () => {
      assert.deepEqual(Object.keys(EXPECTED).sort(), [...TOKEN_ISSUING_PATHS, 'setupMfa'].sort());
    });

    async function apiKeyToken(user: TestUser): Promise<string> {
      const response = await env.request('POST', '/v2.0/tokens', {
        body: { auth: { 'RAX-KSKEY:apiKeyCredentials': { username: user.username, apiKey: user.apiKey } } },
      });
      return (response.body.access as { token: { id: string } }).token.id;
    }

    async function subjectOf(kind: UserKind): Promise<Subject> {
      const user = await createUserVia(env, owner, kind);
      const keyToken = await apiKeyToken(user);
      if (kind === 'requiredWithoutMfa') {
        const put = await env.request('PUT', `/v2.0/users/${user.id}/RAX-AUTH/multi-factor`, {
          token: owner.token,
          body: { 'RAX-AUTH:multiFactor': { userMultiFactorEnforcementLevel: 'REQUIRED' } },
        });
        assert.equal(put.status, 204, put.text);
        return { user, apiKeyToken: keyToken };
      }
      const secret = await enableOtp(env, user);
      const { sessionId } = await startMfaLogin(env, user);
      if (kind === 'locked') {
        for (let i = 0; i < 7; i++) await sendPasscode(env, sessionId, '000000');
      }
      if (kind === 'disabled') {
        const put = await env.request('POST', `/v2.0/users/${user.id}`, {
          token: owner.token,
          body: { user: { enabled: false } },
        });
        assert.equal(put.status, 200, put.text);
      }
      return { user, apiKeyToken: keyToken, sessionId, secret };
    }

    for (const path of Object.keys(EXPECTED) as PathName[]) {
      for (const kind of Object.keys(EXPECTED[path]) as UserKind[]) {
        test(`${path} login of a ${kind} user`, async () => {
          const subject = await subjectOf(kind);
          env.clock.advance(30_000);
          EXPECTED[path][kind](await attempt(env, path, subject), subject);
        });
      }
    }
  });
}
