/**
 * One error type for everything a client may be told. The fault name and status follow the
 * contract (reference §2.1); anything that is not an ApiError is rendered as a generic 500.
 */
export type FaultName =
  | 'badRequest'
  | 'unauthorized'
  | 'forbidden'
  | 'userDisabled'
  | 'itemNotFound'
  | 'methodNotAllowed'
  | 'notAcceptable'
  | 'overLimit'
  | 'unsupportedMediaType'
  | 'identityFault'
  | 'serviceUnavailable';

/**
 * Why a request was refused, as a stable code that surfaces decide on. The message is for people
 * and several reasons may share one (a wrong passcode and a spent session read alike on the
 * wire), so no surface compares message text; `test/reasons.test.ts` keeps it that way.
 */
export type Reason =
  /** Unknown user or wrong password. */
  | 'bad-credentials'
  /** The password lock is engaged; told apart from a wrong password nowhere a client sees. */
  | 'password-locked'
  /** The multi-factor login lock is engaged (or engages now). */
  | 'locked'
  /** The OS-MF session of a challenge expired. */
  | 'session-expired'
  /** The OS-MF session is unknown, spent, or its user is gone. */
  | 'session-rejected'
  /** The passcode of a second step was wrong; the session stays open. */
  | 'wrong-passcode'
  /** Multi-factor authentication is required and the user has none yet. */
  | 'must-set-up-mfa'
  /** A scoped (SETUP-MFA) token where it does not reach. */
  | 'scope-forbids'
  /** A phone number missing or not a number of the country chosen. */
  | 'phone-invalid'
  /** Texts to the phone's country are not allowed on this server. */
  | 'country-not-allowed'
  /** The phone is the user's factor: it may not be replaced or deleted. */
  | 'phone-is-factor'
  /** The phone's verification PIN is wrong, spent or expired. */
  | 'wrong-pin'
  /** The authenticator's verification code is wrong. */
  | 'wrong-device-code'
  /** The authenticator is the last verified one of the user's factor. */
  | 'last-verified-device'
  /** A passkey or security key's answer was refused (the event log keeps why). */
  | 'passkey-refused'
  /** The user has no passkey to ask for. */
  | 'no-passkey'
  /** The account requires passkeys: a password login outside the panel, or a passcode in it. */
  | 'passkeys-only'
  | 'device-name-missing'
  | 'device-name-too-long'
  | 'device-name-invalid'
  /** A username missing, too long or with characters it may not have. */
  | 'username-invalid'
  /** The username is another user's (ignoring case). */
  | 'username-taken'
  | 'email-invalid'
  /** A new password below the password policy. */
  | 'password-weak'
  /** A new password among the user's recent ones (LATCHKEY_PASSWORD_HISTORY). */
  | 'password-reused'
  /** A role the caller does not give, or a change of the caller's own role. */
  | 'role-not-grantable';

export class ApiError extends Error {
  readonly headers: Record<string, string>;
  /** Why, for surfaces to decide on; undefined where no surface tells this refusal apart. */
  reason: Reason | undefined = undefined;
  constructor(
    readonly status: number,
    readonly fault: FaultName,
    message: string,
    headers: Record<string, string> = {},
  ) {
    super(message);
    this.name = 'ApiError';
    this.headers = headers;
  }

  /** Names the reason at the throw: `throw unauthorized(Messages.locked).because('locked')`. */
  because(reason: Reason): this {
    this.reason = reason;
    return this;
  }

  toBody(): Record<string, { code: number; message: string }> {
    return { [this.fault]: { code: this.status, message: this.message } };
  }
}

export const badRequest = (message: string): ApiError => new ApiError(400, 'badRequest', message);
export const unauthorized = (message: string, headers?: Record<string, string>): ApiError =>
  new ApiError(401, 'unauthorized', message, headers);
export const forbidden = (message = 'Not Authorized'): ApiError => new ApiError(403, 'forbidden', message);
export const notFound = (message: string): ApiError => new ApiError(404, 'itemNotFound', message);
/** 409 reuses the badRequest fault (reference §2.1). */
export const conflict = (message: string): ApiError => new ApiError(409, 'badRequest', message);
export const overLimit = (message: string, retryAfterSeconds?: number): ApiError =>
  new ApiError(
    429,
    'overLimit',
    message,
    retryAfterSeconds === undefined
      ? {}
      : { 'Retry-After': String(Math.max(1, Math.ceil(retryAfterSeconds))) },
  );
export const serviceUnavailable = (message: string): ApiError =>
  new ApiError(503, 'serviceUnavailable', message);
export const userDisabled = (username: string): ApiError =>
  new ApiError(403, 'userDisabled', `User '${username}' is disabled.`);

/** The reference's words for a user who must set up MFA first (reference §2.3). */
export const MUST_SET_UP_MFA_PREFIX = 'User must setup multi-factor';

/**
 * Messages the contract fixes (reference §2.3). Where a client had to guess what to do next, the
 * reference's words come first and a hint follows, so a client matching the start still matches.
 */
export const Messages = {
  noToken: "No valid token provided. Please use the 'X-Auth-Token' header with a valid token.",
  badPassword: "Error code: 'AUTH-004'; Unable to authenticate user with credentials provided.",
  badApiKey: "Error code: 'AUTH-008'; Username or api key is invalid.",
  badToken: "Error code: 'AUTH-005'; Token not authenticated.",
  tenantNotAuthorized: "Error code: 'AUTH-006'; Not authorized for the domain.",
  noCredentials: 'Invalid request body: unable to parse Auth data. Please review XML or JSON formatting.',
  unknownCredential:
    'Unknown credential type. Send exactly one of passwordCredentials, RAX-KSKEY:apiKeyCredentials, token, or RAX-AUTH:passcodeCredentials (with the X-SessionId header).',
  /** Passcode credentials for a user without MFA: the reference's words, and why. */
  passcodeWithoutMfa:
    'Unknown credential type. This user has no multi-factor authentication enabled: log in with passwordCredentials alone.',
  tenantIdAndName: 'Invalid request. Specify tenantId OR tenantName, not both.',
  challenge: 'Additional authentication credentials required.',
  mustSetupMfa:
    'User must setup multi-factor. Log in again with "RAX-AUTH:scope":"SETUP-MFA" beside passwordCredentials for a one-hour token that may only set up multi-factor authentication.',
  scopeNotSupported: 'SETUP-MFA SCOPE not supported',
  scopeForbids: 'The scope of this token does not allow access to this resource',
  invalidSessionId: 'Invalid X-SessionId',
  sessionRejected: 'Can not authenticate with credentials provided',
  sessionExpired: 'Can not authenticate with credentials provided. Session has expired.',
  wrongPasscode: 'Can not authenticate with credentials provided',
  locked:
    'Can not authenticate with credentials provided. The account has been locked due to excessive invalid attempts. Please contact an administrator',
  notAuthorized: 'Not Authorized',
  tokenNotFound: 'Token not found.',
} as const;
