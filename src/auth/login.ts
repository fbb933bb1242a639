import type { AuthenticationResponseJSON } from '@simplewebauthn/server';
import { sql } from 'kysely';
import {
  type AuthMethod,
  authMethodsOf,
  issueToken,
  resolveToken,
  type TokenScope,
} from '../access/tokens.js';
import { ApiError, badRequest, forbidden, Messages, unauthorized, userDisabled } from '../core/errors.js';
import { constantEquals } from '../crypto/constant-equals.js';
import { randomHex } from '../crypto/random.js';
import { type EventType, isFailureEvent, recordEvent, recordRepeatedEvent } from '../events/events.js';
import { consumeBypassCode } from '../factors/bypass-codes/bypass-codes.js';
import { consumeOneTimeCode } from '../factors/one-time-codes.js';
import { PasskeyMessages } from '../factors/passkeys/passkeys.js';
import { SmsLimitReached } from '../factors/sms/delivery.js';
import {
  consumeLoginPasscode,
  PASSCODE_NOT_SENT,
  resendLoginPasscode,
  sendLoginPasscode,
} from '../factors/sms/login-passcode.js';
import { type LoginOtpDevice, verifyTotpForLogin } from '../factors/totp/totp.js';
import { apiKeyAad } from '../identity/api-keys.js';
import { rehashPasswordIfNeeded } from '../identity/passwords.js';
import {
  findUserById,
  findUserByReference,
  findUserByUsername,
  type UserReference,
  usernameKey,
} from '../identity/users.js';
import { reservePasscodeAttempt, resetPasscodeAttempts } from '../lockout/attempts.js';
import { locksOf } from '../lockout/locks.js';
import { reservePasswordAttempt, resetPasswordAttempts } from '../lockout/password-attempts.js';
import { takeSourceFailureSlot } from '../lockout/source-failures.js';
import {
  decideLogin,
  type FactorType,
  type MultiFactorMethod,
  mfaRequired,
  type PolicySubject,
  passcodeMethod,
  passkeysOnlyBinds,
} from '../policy/enforcement.js';
import type { Deps } from '../services/deps.js';
import { type Db, type UserRow, type UserView, userView } from '../store/schema.js';
import {
  consumeMfaSession,
  findMfaSession,
  findMfaSessionWithUser,
  mfaSessionHash,
  newMfaSessionId,
  startMfaSession,
} from './mfa-session.js';
import { authenticatePasskeyAlone, authenticatePasskeyStep, passcodeFallback } from './passkey-step.js';

/** A username (v2.0, the panel) or an OpenStack v3 user reference (id, or name and domain). */
type NamedUser = { username: string } | { user: UserReference };

export type Credentials =
  | ({ type: 'password'; password: string } & NamedUser)
  | { type: 'apiKey'; username: string; apiKey: string }
  | { type: 'token'; tokenId: string }
  | { type: 'passcode'; sessionIds: string[]; passcode: string }
  /** Both factors in one request (OpenStack v3 `["password","totp"]`): no challenge in between. */
  | { type: 'passwordAndPasscode'; user: UserReference; password: string; passcode: string }
  /** Step 2 with a passkey or security key (the panel): the browser's signed answer. */
  | { type: 'passkey'; sessionIds: string[]; response: AuthenticationResponseJSON }
  /** A sign-in with a passkey alone (the panel): a discoverable credential with user verification. */
  | { type: 'passkeyAlone'; response: AuthenticationResponseJSON };

export interface LoginRequest {
  credentials: Credentials;
  tenantId?: string;
  tenantName?: string;
  scope: TokenScope | null;
  source: string | null;
  /**
   * The surface can ask a browser for a passkey (the panel). Elsewhere a passkey user's challenge
   * is for a passcode factor that stands in for it.
   */
  passkeyPrompt?: boolean;
  /**
   * The control panel, where a browser can sign: the one surface where users of an account that
   * requires passkeys may log in with a password (then their passkey).
   */
  panel?: boolean;
}

export interface LoginSuccess {
  token: {
    id: string;
    issuedAt: number;
    expiresAt: number;
    authenticatedBy: AuthMethod[];
    scope: TokenScope | null;
  };
  user: UserView;
  /** The tenant asked for, when one was. */
  tenantId: string | null;
}

/**
 * A second factor is needed: an expiring, single-use OS-MF session remembers the password step.
 * Each surface renders it: 401 + WWW-Authenticate on v2.0, a passcode page in the panel.
 */
export interface LoginChallenge {
  sessionId: string;
  /** Who must finish the login (a v3 auth receipt names the user). */
  user: UserView;
  factor: FactorType;
  /** SMS users: the masked number the passcode went to, e.g. `+1******0123`. */
  sentTo?: string;
  /**
   * SMS users when an SMS limit stopped the passcode: what to tell the user (every surface shows
   * `message`) and when a text could go again. Bypass and temporary codes still complete the session.
   */
  smsNotSent?: { message: string; retryAfterSeconds: number };
  /**
   * The user's default method is a passkey: the panel asks for it (`factor` is then the passcode
   * factor of "Use another method"); the API answers with `factor` and says why.
   */
  passkey?: { message: string };
}

/**
 * What every surface says with a challenge: that a second step is needed, then why this one
 * (a passkey user, where no browser can sign; an SMS limit that kept the passcode from going).
 */
export function challengeMessage(challenge: Pick<LoginChallenge, 'passkey' | 'smsNotSent'>): string {
  const notes = [challenge.passkey?.message, challenge.smsNotSent?.message].filter(
    (note) => note !== undefined,
  );
  return [Messages.challenge, ...notes].join(' ');
}

/** Whether a challenge has more to say than that a second step is needed. */
export function challengeExplained(challenge: Pick<LoginChallenge, 'passkey' | 'smsNotSent'>): boolean {
  return challenge.passkey !== undefined || challenge.smsNotSent !== undefined;
}

export const NO_SECOND_FACTOR =
  'Can not authenticate with credentials provided: this user has no multi-factor authentication, so a passcode cannot be checked; log in with the password alone.';

/**
 * The password was right, but multi-factor authentication is required and the user has none.
 * Each surface decides what follows: the panel goes on into the forced setup with `setUp` (a
 * SETUP-MFA token, without judging the password again); the API surfaces answer 403 with the
 * error `refuse` records and returns.
 */
export interface LoginMustSetUpMfa {
  user: UserView;
  setUp(): Promise<LoginResult>;
  refuse(): Promise<ApiError>;
}

/** What a login ends in; failures (bad credentials, lockout, policy) are ApiErrors. */
export type LoginResult =
  | ({ kind: 'token' } & LoginSuccess)
  | ({ kind: 'challenge' } & LoginChallenge)
  | ({ kind: 'must-set-up-mfa' } & LoginMustSetUpMfa);

/**
 * Every credential type that can yield a token. A Record over the union, so adding a type to
 * Credentials fails to compile until it is listed here, and the MFA gate test then fails until
 * its behaviour is classified.
 */
const ISSUING_PATHS: Record<Credentials['type'], true> = {
  password: true,
  apiKey: true,
  token: true,
  passcode: true,
  passwordAndPasscode: true,
  passkey: true,
  passkeyAlone: true,
};
export const TOKEN_ISSUING_PATHS = Object.keys(ISSUING_PATHS) as Credentials['type'][];

/**
 * Which credentials count towards LATCHKEY_LOGIN_FAILURES_PER_SOURCE: those a guesser can try
 * (a token credential is a 128-bit secret that is looked up, never guessed against a user).
 */
const COUNTED_PER_SOURCE: Record<Credentials['type'], boolean> = {
  password: true,
  apiKey: true,
  token: false,
  passcode: true,
  passwordAndPasscode: true,
  passkey: true,
  passkeyAlone: true,
};

interface Authenticated {
  user: UserRow;
  methods: AuthMethod[];
  /** Token credentials re-scope an existing token instead of issuing one (reference §4.3). */
  existingToken?: LoginSuccess['token'];
  /** The OS-MF session to burn before issuing, for the passcode step. */
  sessionHash?: string;
  /** The passcode step: the factor whose challenge it answers. */
  completes?: FactorType;
  /**
   * The user's account's MFA level, when authenticating read it with the user (the passcode
   * step); otherwise policy reads it.
   */
  domainLevel?: string | null;
  /** Whether the account requires passkeys, when authenticating read it with the user. */
  domainPasskeysOnly?: boolean;
}

/**
 * POST /v2.0/tokens as a pipeline: authenticate the credential presented (which yields the
 * methods completed), ask policy whether that is enough, then challenge or issue.
 */
export async function login(deps: Deps, request: LoginRequest): Promise<LoginResult> {
  if (request.tenantId !== undefined && request.tenantName !== undefined)
    throw badRequest(Messages.tenantIdAndName);
  const slot = COUNTED_PER_SOURCE[request.credentials.type]
    ? await takeSourceFailureSlot(deps, request.source)
    : undefined;
  let authenticated: Authenticated;
  try {
    authenticated = await authenticate(deps, request);
  } catch (error) {
    // A refused credential keeps its slot; a malformed request was no guess and gives it back.
    const refused = error instanceof ApiError && (error.status === 401 || error.status === 403);
    if (!refused) await slot?.giveBack();
    throw error;
  }
  await slot?.giveBack();
  const { user } = authenticated;
  if (!user.enabled) throw userDisabled(user.username);
  const tenantId = request.tenantId ?? request.tenantName ?? null;
  if (tenantId !== null && tenantId !== user.domain_id) throw unauthorized(Messages.tenantNotAuthorized);
  if (authenticated.existingToken)
    return { kind: 'token', token: authenticated.existingToken, user, tenantId };
  return decide(deps, request, authenticated, tenantId);
}

/** What policy makes of an authenticated login: challenge, token, must-set-up-mfa or refusal. */
async function decide(
  deps: Deps,
  request: LoginRequest,
  authenticated: Authenticated,
  tenantId: string | null,
): Promise<LoginResult> {
  const { user } = authenticated;
  const policy = await policySubject(
    deps.db,
    user,
    false,
    authenticated.domainLevel,
    authenticated.domainPasskeysOnly,
  );
  const passkeysOnly = await passkeysOnlyStep(deps.db, request, authenticated, policy);
  if (passkeysOnly === 'refuse') throw await passkeysOnlyRefusal(deps, request, user);
  const decision = decideLogin(authenticated.methods, policy, request.scope);
  // The account requires passkeys and the user has one: the panel asks for it, whatever the
  // user's default method.
  if (decision.kind === 'challenge' && passkeysOnly === 'passkey')
    return challenge(deps, request, user, 'PASSKEY');
  switch (decision.kind) {
    case 'scope-not-supported':
      throw forbidden(Messages.scopeNotSupported);
    case 'must-set-up-mfa':
      return {
        kind: 'must-set-up-mfa',
        user: userView(user),
        setUp: () => decide(deps, { ...request, scope: 'SETUP-MFA' }, authenticated, tenantId),
        refuse: async () => {
          await audit(deps, request, user, 'login.failed', { reason: 'mfa setup required' });
          return mustSetUpMfa();
        },
      };
    case 'challenge':
      return challenge(deps, request, user, decision.factor);
    case 'issue': {
      const now = deps.clock.now();
      let refusedAsPasskeysOnly = false;
      const token = await deps.db
        .transaction()
        .execute(async (trx) => {
          // Decide again under a share lock on the user and domain rows, from one read of the
          // whole policy (the account's level and its passkeys-only choice with the user's own):
          // a policy change that revokes tokens either commits first (and we see it here) or
          // waits for this token to exist (and revokes it). No token slips between the two.
          const locked = await policySubject(trx, user, true);
          const lockedStep = await passkeysOnlyStep(trx, request, authenticated, locked);
          // A passcode refused, or a passkey to ask for that the first read did not see: the
          // account turned passkeys-only since, and this login must start again under it.
          if (lockedStep === 'refuse' || (lockedStep === 'passkey' && passkeysOnly !== 'passkey')) {
            refusedAsPasskeysOnly = true;
            throw passkeysOnlyError();
          }
          const fresh = decideLogin(authenticated.methods, locked, request.scope);
          if (fresh.kind !== 'issue')
            throw fresh.kind === 'must-set-up-mfa' ? mustSetUpMfa() : forbidden(Messages.notAuthorized);
          if (authenticated.sessionHash && !(await consumeMfaSession(trx, authenticated.sessionHash, now))) {
            throw sessionRejected();
          }
          // Without a passkey where the account requires one: the passcode was accepted this
          // once, for a token that can only add a passkey (the panel goes straight there).
          const scope = lockedStep === 'add-passkey' ? 'ADD-PASSKEY' : decision.scope;
          const issued = await issueToken(deps, trx, user, decision.authenticatedBy, scope);
          await recordEvent(trx, now, {
            type: 'login.succeeded',
            actorId: user.id,
            userId: user.id,
            domainId: user.domain_id,
            source: request.source,
            detail: { authenticatedBy: decision.authenticatedBy, scope },
          });
          return issued;
        })
        .catch(async (error: unknown) => {
          // Audited once the transaction is over: its connection is the only one (SQLite).
          if (refusedAsPasskeysOnly) throw await passkeysOnlyRefusal(deps, request, user);
          throw error;
        });
      if (authenticated.completes) deps.metrics.mfaCompletion(authenticated.completes);
      return { kind: 'token', token, user: userView(user), tenantId };
    }
  }
}

/** The policy a login is decided on: the user's and the account's MFA levels, and passkeys-only. */
interface LoginPolicy extends PolicySubject {
  /** The account requires passkeys or security keys (`domains.passkeys_only`). */
  domainPasskeysOnly: boolean;
}

/**
 * An account that requires passkeys, for a login with a password (an API key or a passkey alone
 * is not touched): outside the panel refused; in the panel a passcode is refused once the user
 * has a passkey, and accepted while the user has none (who then adds one). Returns what follows:
 * nothing to do, a passkey to ask for, a passkey to add, or a refusal. Writes nothing, so it can
 * run inside the transaction that issues the token.
 */
async function passkeysOnlyStep(
  db: Db,
  request: LoginRequest,
  authenticated: Authenticated,
  policy: LoginPolicy,
): Promise<'none' | 'passkey' | 'add-passkey' | 'refuse'> {
  const { user, methods } = authenticated;
  if (!methods.includes('PASSWORD') || methods.includes('PASSKEY') || !user.domain_id) return 'none';
  if (!passkeysOnlyBinds(policy.userLevel, policy.domainPasskeysOnly)) return 'none';
  if (!request.panel) return 'refuse';
  const passkey = await db
    .selectFrom('passkeys')
    .select('id')
    .where('user_id', '=', user.id)
    .executeTakeFirst();
  if (passkey === undefined) return methods.length > 1 ? 'add-passkey' : 'none';
  return methods.length > 1 ? 'refuse' : 'passkey';
}

const passkeysOnlyError = (): ApiError =>
  forbidden(PasskeyMessages.accountRequiresPasskey).because('passkeys-only');

async function passkeysOnlyRefusal(deps: Deps, request: LoginRequest, user: UserRow): Promise<ApiError> {
  await audit(deps, request, user, 'login.failed', { reason: 'passkeys only' });
  return passkeysOnlyError();
}

const mustSetUpMfa = (): ApiError => forbidden(Messages.mustSetupMfa).because('must-set-up-mfa');
const sessionRejected = (): ApiError => unauthorized(Messages.sessionRejected).because('session-rejected');
const sessionExpired = (): ApiError => unauthorized(Messages.sessionExpired).because('session-expired');

/**
 * What policy decides a login from. `lock`: read afresh, under a share lock on the user's and
 * the account's rows (PostgreSQL), in one statement: the decision a token is issued on. Without
 * it, from the user row this request has just read (and the account's policy, read here in one
 * statement unless the caller read it with the user): the first, unlocked decision, which the
 * locked one repeats before any token is issued.
 */
async function policySubject(
  db: Db,
  user: UserRow,
  lock: boolean,
  knownDomainLevel?: string | null,
  knownDomainPasskeysOnly?: boolean,
): Promise<LoginPolicy> {
  if (!lock) {
    if (!user.enabled) throw userDisabled(user.username);
    let domainLevel = knownDomainLevel ?? null;
    let domainPasskeysOnly = knownDomainPasskeysOnly ?? false;
    if ((knownDomainLevel === undefined || knownDomainPasskeysOnly === undefined) && user.domain_id) {
      const domain = await db
        .selectFrom('domains')
        .select(['mfa_enforcement', 'passkeys_only'])
        .where('id', '=', user.domain_id)
        .executeTakeFirst();
      domainLevel = domain?.mfa_enforcement ?? null;
      domainPasskeysOnly = domain?.passkeys_only === 1;
    }
    return {
      mfaEnabled: user.mfa_enabled === 1,
      factorType: (user.factor_type as FactorType | null) ?? null,
      userLevel: user.mfa_enforcement,
      domainLevel,
      domainPasskeysOnly,
    };
  }
  // The account's row joined (inner, so FOR SHARE may lock it too) only when there is one.
  let current:
    | {
        mfa_enabled: number;
        factor_type: string | null;
        mfa_enforcement: string | null;
        enabled: number;
        domain_level: string | null;
        domain_passkeys_only: number;
      }
    | undefined;
  if (user.domain_id) {
    let query = db
      .selectFrom('users')
      .innerJoin('domains', 'domains.id', 'users.domain_id')
      .select([
        'users.mfa_enabled',
        'users.factor_type',
        'users.mfa_enforcement',
        'users.enabled',
        'domains.mfa_enforcement as domain_level',
        'domains.passkeys_only as domain_passkeys_only',
      ])
      .where('users.id', '=', user.id);
    query = query.forShare();
    current = await query.executeTakeFirst();
  } else {
    let query = db
      .selectFrom('users')
      .select([
        'mfa_enabled',
        'factor_type',
        'mfa_enforcement',
        'enabled',
        sql<null>`null`.as('domain_level'),
        sql<number>`0`.as('domain_passkeys_only'),
      ])
      .where('id', '=', user.id);
    query = query.forShare();
    current = await query.executeTakeFirst();
  }
  if (!current?.enabled) throw userDisabled(user.username);
  return {
    mfaEnabled: current.mfa_enabled === 1,
    factorType: (current.factor_type as MultiFactorMethod | null) ?? null,
    userLevel: current.mfa_enforcement,
    domainLevel: current.domain_level,
    domainPasskeysOnly: Number(current.domain_passkeys_only) === 1,
  };
}

/** A user by name with the account's MFA level, which the login's policy needs, in one statement. */
async function findUserWithDomainLevel(
  db: Db,
  username: string,
): Promise<{
  user: UserRow | undefined;
  domainLevel: string | null | undefined;
  domainPasskeysOnly: boolean | undefined;
}> {
  const row = await db
    .selectFrom('users')
    .leftJoin('domains', 'domains.id', 'users.domain_id')
    .selectAll('users')
    .select([
      'domains.mfa_enforcement as domain_mfa_enforcement',
      'domains.passkeys_only as domain_passkeys_only',
    ])
    .where('users.username_key', '=', usernameKey(username))
    .executeTakeFirst();
  if (!row) return { user: undefined, domainLevel: undefined, domainPasskeysOnly: undefined };
  const { domain_mfa_enforcement, domain_passkeys_only, ...user } = row;
  return {
    user,
    domainLevel: domain_mfa_enforcement ?? null,
    domainPasskeysOnly: domain_passkeys_only === 1,
  };
}

async function authenticate(deps: Deps, request: LoginRequest): Promise<Authenticated> {
  const { credentials } = request;
  switch (credentials.type) {
    case 'password': {
      const found =
        'username' in credentials
          ? await findUserWithDomainLevel(deps.db, credentials.username)
          : {
              user: await findUserByReference(deps.db, credentials.user),
              domainLevel: undefined,
              domainPasskeysOnly: undefined,
            };
      return {
        user: await judgePassword(
          deps,
          request.source,
          found.user,
          nameOf(credentials),
          credentials.password,
        ),
        methods: ['PASSWORD'],
        domainLevel: found.domainLevel,
        ...(found.domainPasskeysOnly === undefined ? {} : { domainPasskeysOnly: found.domainPasskeysOnly }),
      };
    }
    case 'apiKey': {
      const user = await findUserByUsername(deps.db, credentials.username);
      const expected = user?.api_key_enc
        ? deps.keys.decrypt(user.api_key_enc, apiKeyAad(user.id))
        : randomHex();
      const ok = constantEquals(credentials.apiKey, expected);
      if (!user?.api_key_enc || !ok) {
        await auditFailure(deps, request, user, credentials.username, 'APIKEY');
        throw unauthorized(Messages.badApiKey);
      }
      return { user, methods: ['APIKEY'] };
    }
    case 'token': {
      const resolved = await resolveToken(deps, credentials.tokenId);
      if (!resolved) throw unauthorized(Messages.badToken);
      if (resolved.token.scope !== null) throw forbidden(Messages.scopeForbids).because('scope-forbids');
      const methods = authMethodsOf(resolved.token);
      return {
        user: resolved.user,
        methods,
        existingToken: {
          id: credentials.tokenId,
          issuedAt: resolved.token.created_at,
          expiresAt: resolved.token.expires_at,
          authenticatedBy: methods,
          scope: null,
        },
      };
    }
    case 'passcode':
      return authenticatePasscode(deps, request, credentials);
    case 'passwordAndPasscode':
      return authenticatePasswordAndPasscode(deps, request, credentials);
    case 'passkey':
      if (request.scope) throw forbidden(Messages.scopeNotSupported);
      return authenticatePasskeyStep(deps, request.source, credentials.sessionIds, credentials.response);
    case 'passkeyAlone':
      return authenticatePasskeyAlone(deps, request.source, credentials.response);
  }
}

/**
 * The password step, for a login or a password change: counted against the user's password lock
 * before it is judged, a failure audited (and the lock it engages), the hash upgraded on success.
 * Throws 401 unless `user` exists and the password is right (then returns it); `name` is what
 * the caller typed.
 */
export async function judgePassword(
  deps: Deps,
  source: string | null,
  user: UserRow | undefined,
  name: string,
  password: string,
): Promise<UserRow> {
  const request = { source };
  const attempt = user ? await reservePasswordAttempt(deps, user.id) : undefined;
  // Judged even while locked, so a locked account answers in the same time; the result is
  // then ignored: no password opens a locked account.
  const ok = await deps.passwords.verifyOrDummy(user?.password_hash, password);
  const passwordLocked = attempt?.kind === 'locked';
  // A user whose MFA login is locked gets the lockout message for a right and a wrong password
  // alike, and the attempt stays counted either way: nothing tells the two apart.
  const mfaLocked =
    user !== undefined &&
    !passwordLocked &&
    user.mfa_enabled === 1 &&
    locksOf(deps, user).passcode !== undefined;
  if (!user || !ok || passwordLocked || mfaLocked) {
    const reason = passwordLocked ? 'password locked' : mfaLocked ? 'mfa locked' : undefined;
    await auditFailure(deps, request, user, name, 'PASSWORD', reason);
    if (user && attempt?.kind === 'counted' && attempt.locksNow) {
      deps.metrics.lockout('password');
      await audit(deps, request, user, 'password.locked', {
        lock: 'password',
        failedAttempts: deps.config.passwordLockout.attempts,
        lockSeconds: deps.config.passwordLockout.seconds,
      });
    }
    if (mfaLocked) throw unauthorized(Messages.locked).because('locked');
    throw unauthorized(Messages.badPassword).because(passwordLocked ? 'password-locked' : 'bad-credentials');
  }
  if (attempt?.kind === 'counted') await resetPasswordAttempts(deps.db, user.id);
  await rehashPasswordIfNeeded(deps, user, password);
  return user;
}

function nameOf(credentials: NamedUser): string {
  if ('username' in credentials) return credentials.username;
  return 'id' in credentials.user ? credentials.user.id : credentials.user.name;
}

/**
 * Both factors at once: the password step, then the passcode step against an OS-MF session that
 * the password step opens without sending anything. The passcode is judged exactly as a second
 * step would judge it (same lockout counter, same codes), and the session is burnt on success.
 */
async function authenticatePasswordAndPasscode(
  deps: Deps,
  request: LoginRequest,
  credentials: Extract<Credentials, { type: 'passwordAndPasscode' }>,
): Promise<Authenticated> {
  const { user } = await authenticate(deps, {
    ...request,
    credentials: { type: 'password', user: credentials.user, password: credentials.password },
  });
  if (!user.enabled) throw userDisabled(user.username);
  const method = user.factor_type as MultiFactorMethod | null;
  if (user.mfa_enabled !== 1 || method === null) {
    // No factor could judge the passcode: refused, and a user who must set MFA up is told so.
    const subject = await policySubject(deps.db, user, false);
    if (mfaRequired(subject.userLevel, subject.domainLevel)) {
      await audit(deps, request, user, 'login.failed', { reason: 'mfa setup required' });
      throw mustSetUpMfa();
    }
    throw unauthorized(NO_SECOND_FACTOR);
  }
  // A passkey cannot sign here: its stand-in passcode factor judges the code.
  const factor = method === 'PASSKEY' ? (await passcodeFallback(deps.db, user.id)).factor : method;
  const sessionId = newMfaSessionId();
  await startMfaSession(deps, sessionId, user.id, factor, ['PASSWORD']);
  const { completes: _noChallenge, ...authenticated } = await authenticatePasscode(deps, request, {
    type: 'passcode',
    sessionIds: [sessionId],
    passcode: credentials.passcode,
  });
  // Counted as a completion only where a challenge was counted: this login had none.
  return authenticated;
}

/** Step 2 (reference §4.5, §10): session, lock, passcode, in that order. */
async function authenticatePasscode(
  deps: Deps,
  request: LoginRequest,
  credentials: Extract<Credentials, { type: 'passcode' }>,
): Promise<Authenticated> {
  const [sessionId] = credentials.sessionIds;
  if (credentials.sessionIds.length !== 1 || sessionId === undefined)
    throw badRequest(Messages.invalidSessionId);
  // The session, its user and the account's MFA level in one statement.
  const session = await findMfaSessionWithUser(deps, sessionId);
  if (session.state === 'unknown') throw sessionRejected();
  if (session.state === 'expired') throw sessionExpired();
  const { user } = session;
  if (!user.enabled) throw userDisabled(user.username);
  if (!user.mfa_enabled || !user.factor_type) throw badRequest(Messages.passcodeWithoutMfa);
  if (request.scope) throw forbidden(Messages.scopeNotSupported);

  const attempt = await reservePasscodeAttempt(deps, user.id);
  if (attempt === undefined) {
    await audit(deps, request, user, 'login.passcode_failed', { reason: 'locked' });
    throw forbidden(Messages.locked).because('locked');
  }
  const passcode = credentials.passcode.trim();
  const via = await checkPasscode(deps, user.id, passcode, session);
  if (via === undefined) {
    if (attempt >= deps.config.lockoutThreshold) {
      deps.metrics.lockout('mfa');
      await audit(deps, request, user, 'mfa.locked', {
        lock: 'passcode',
        failedAttempts: attempt,
        lockSeconds: deps.config.lockoutSeconds,
      });
      throw forbidden(Messages.locked).because('locked');
    }
    await audit(deps, request, user, 'login.passcode_failed', { failedAttempts: attempt });
    throw unauthorized(Messages.wrongPasscode).because('wrong-passcode');
  }
  await resetPasscodeAttempts(deps.db, user.id);
  // Which code stood in for the passcode; the login itself is recorded once, where it is issued.
  if (via === 'bypass') await audit(deps, request, user, 'bypass_code.used', { via });
  if (via === 'temporary') await audit(deps, request, user, 'temporary_code.used', { via });
  return {
    user,
    methods: [passcodeMethod(session.factor), ...session.done],
    sessionHash: session.hash,
    completes: session.factor,
    domainLevel: session.domainLevel,
    domainPasskeysOnly: session.domainPasskeysOnly,
  };
}

/**
 * Step 2 accepts what the challenge named, and nothing of another factor: the OTP devices for an
 * OTP challenge, the SMS passcode sent for this very session for an SMS challenge; then bypass
 * codes and administrators' temporary codes, which stand in for either (reference §4.5).
 */
async function checkPasscode(
  deps: Deps,
  userId: string,
  passcode: string,
  session: { factor: FactorType; hash: string; otpDevices: readonly LoginOtpDevice[] },
): Promise<'otp' | 'sms' | 'bypass' | 'temporary' | undefined> {
  if (session.factor === 'OTP' && (await verifyTotpForLogin(deps, session.otpDevices, passcode)))
    return 'otp';
  if (session.factor === 'SMS' && (await consumeLoginPasscode(deps, userId, passcode, session.hash)))
    return 'sms';
  if (await consumeBypassCode(deps, userId, passcode)) return 'bypass';
  if (/^\d{8}$/.test(passcode) && (await consumeOneTimeCode(deps, userId, 'temporary', passcode)))
    return 'temporary';
  return undefined;
}

/** Step 1 of an MFA login: an OS-MF session, after sending the SMS passcode if needed. */
async function challenge(
  deps: Deps,
  request: LoginRequest,
  user: UserRow,
  method: MultiFactorMethod,
): Promise<LoginResult> {
  if (locksOf(deps, user).passcode) {
    await audit(deps, request, user, 'login.failed', { reason: 'locked' });
    throw unauthorized(Messages.locked).because('locked');
  }
  // The SMS passcode is bound to this session's id, so it opens this session and no other. It is
  // sent before the session is stored: if the provider fails, no session is left that nobody
  // could complete.
  const sessionId = newMfaSessionId();
  let sentTo: string | undefined;
  let smsNotSent: LoginChallenge['smsNotSent'];
  // A passkey user's session names the passcode factor that stands in for the passkey; the panel
  // asks for the passkey first and texts a passcode only if the user chooses another method.
  const fallback = method === 'PASSKEY' ? await passcodeFallback(deps.db, user.id) : undefined;
  const factor: FactorType = fallback?.factor ?? (method as FactorType);
  const passkeyFirst = method === 'PASSKEY' && request.passkeyPrompt === true;
  if (factor === 'SMS' && !passkeyFirst) {
    try {
      sentTo = await sendLoginPasscode(deps, user.id, mfaSessionHash(deps, sessionId));
    } catch (error) {
      // An SMS limit must not lock out recovery: the challenge still comes, without a text, so a
      // user who lost the phone completes it with a bypass or temporary code.
      if (!(error instanceof SmsLimitReached)) throw error;
      smsNotSent = { message: PASSCODE_NOT_SENT, retryAfterSeconds: error.retryAfterSeconds };
    }
  }
  await startMfaSession(deps, sessionId, user.id, factor, ['PASSWORD']);
  await audit(deps, request, user, 'login.challenged', {
    factor: method,
    ...(smsNotSent ? { smsSent: false } : {}),
  });
  deps.metrics.mfaChallenge(factor);
  return {
    kind: 'challenge',
    sessionId,
    user: userView(user),
    factor,
    ...(sentTo === undefined ? {} : { sentTo }),
    ...(smsNotSent === undefined ? {} : { smsNotSent }),
    ...(method === 'PASSKEY'
      ? {
          passkey: {
            message: fallback?.device ? PasskeyMessages.apiChallenge : PasskeyMessages.apiChallengeCodes,
          },
        }
      : {}),
  };
}

export const RESEND_NOT_SMS = 'Only a sign-in by text message can send its passcode again.';

/**
 * "Resend code": a new SMS passcode for the same pending sign-in, without the password again.
 * The new code replaces the earlier one (which stays if the new one cannot be sent) and goes
 * through the same SMS limits as every text; the OS-MF session keeps its expiry, so resending
 * never lengthens a sign-in.
 */
export async function resendChallengePasscode(
  deps: Deps,
  sessionId: string,
  source: string | null,
): Promise<{ sentTo: string }> {
  const session = await findMfaSession(deps, sessionId);
  if (session.state === 'unknown') throw sessionRejected();
  if (session.state === 'expired') throw sessionExpired();
  const user = await findUserById(deps.db, session.userId);
  if (!user) throw sessionRejected();
  if (!user.enabled) throw userDisabled(user.username);
  // A passkey user whose stand-in factor is the phone gets the first text here ("Use another method").
  const smsUser = user.factor_type === 'SMS' || user.factor_type === 'PASSKEY';
  if (session.factor !== 'SMS' || user.mfa_enabled !== 1 || !smsUser) throw badRequest(RESEND_NOT_SMS);
  if (locksOf(deps, user).passcode) throw unauthorized(Messages.locked).because('locked');
  const sentTo = await resendLoginPasscode(deps, user.id, session.hash);
  await audit(deps, { source }, user, 'login.challenged', { factor: 'SMS', resent: true });
  return { sentTo };
}

/**
 * A failed first-factor login is recorded whether or not the user exists: the same write on
 * both paths keeps an unknown username from answering measurably faster. An unknown name is
 * kept only as a keyed hash (it is often a password typed into the wrong field); an
 * administrator who suspects a name can compare its hash. Repeats from one source within a
 * minute count up one row (recordRepeatedEvent).
 */
function auditFailure(
  deps: Deps,
  request: Pick<LoginRequest, 'source'>,
  user: UserRow | undefined,
  username: string,
  method: AuthMethod,
  reason?: string,
): Promise<void> {
  const usernameHash = user ? undefined : deps.keys.hashFor('unknown-username', usernameKey(username));
  return recordRepeatedEvent(deps.db, deps.clock.now(), {
    type: 'login.failed',
    subject: user ? user.id : `unknown:${usernameHash}`,
    actorId: user?.id ?? null,
    userId: user?.id ?? null,
    domainId: user?.domain_id ?? null,
    source: request.source,
    detail: {
      method,
      ...(usernameHash === undefined ? {} : { usernameHash }),
      ...(reason === undefined ? {} : { reason }),
    },
  });
}

function audit(
  deps: Deps,
  request: Pick<LoginRequest, 'source'>,
  user: UserRow,
  type: EventType,
  detail: Record<string, string | number | boolean>,
): Promise<void> {
  const event = {
    type,
    actorId: user.id,
    userId: user.id,
    domainId: user.domain_id,
    source: request.source,
    detail,
  };
  // Failures can be caused at will: they count up per source and minute instead of adding rows.
  return isFailureEvent(type)
    ? recordRepeatedEvent(deps.db, deps.clock.now(), { ...event, subject: user.id })
    : recordEvent(deps.db, deps.clock.now(), event);
}
