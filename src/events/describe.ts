import type { EventType } from './events.js';

/**
 * Security events in plain language, written once for every surface: the panel's events page,
 * the API's `summary` (which the CLI prints) and anything else that shows an event to a person.
 * Details are stored as data (ids, method codes, counts); this turns them into a sentence.
 */

/** What each event type is called (every type, checked by the compiler). */
export const EVENT_TITLES: Record<EventType, string> = {
  'login.succeeded': 'Logged in',
  'login.failed': 'Login failed',
  'login.challenged': 'Asked for a passcode',
  'login.passcode_failed': 'Wrong passcode',
  'login.rate_limited': 'Refused: too many failed logins from one address',
  'sms.rate_limited': 'Text message refused: limit reached',
  'password.locked': 'Locked: too many wrong passwords',
  'mfa.locked': 'Locked: too many wrong passcodes',
  'mfa.unlocked': 'Unlocked',
  'mfa.enabled': 'Multi-factor turned on',
  'mfa.disabled': 'Multi-factor turned off',
  'mfa.removed': 'Multi-factor reset',
  'mfa.factor_changed': 'Default method changed',
  'mfa.user_enforcement_changed': 'User requirement changed',
  'device.added': 'Device added',
  'device.verified': 'Device verified',
  'device.removed': 'Device removed',
  'passkey.registered': 'Passkey added',
  'passkey.used': 'Logged in with a passkey',
  'passkey.renamed': 'Passkey renamed',
  'passkey.deleted': 'Passkey deleted',
  'passkey.refused': 'Passkey refused',
  'bypass_codes.generated': 'Bypass codes generated',
  'bypass_code.used': 'Logged in with a bypass code',
  'temporary_code.sent': 'Temporary code sent',
  'temporary_code.used': 'Temporary code used',
  'domain.enforcement_changed': 'Account requirement changed',
  'tokens.revoked': 'Logged out',
  'user.created': 'User created',
  'user.updated': 'User changed',
  'user.deleted': 'User deleted',
  'password.changed': 'Password changed',
  'api_key.reset': 'API key reset',
  'api_key.deleted': 'API key deleted',
};

export const isEventType = (type: string): type is EventType => Object.hasOwn(EVENT_TITLES, type);

export const eventTitle = (type: string): string => (isEventType(type) ? EVENT_TITLES[type] : type);

const METHODS: Record<string, string> = {
  PASSWORD: 'password',
  APIKEY: 'API key',
  PASSCODE: 'passcode',
  OTPPASSCODE: 'authenticator app',
  PASSKEY: 'passkey or security key',
};

const FACTORS: Record<string, string> = {
  OTP: 'authenticator app',
  SMS: 'text message (SMS)',
  PASSKEY: 'passkey or security key',
};

const PASSKEY_REFUSALS: Record<string, string> = {
  counter: 'Its signature counter went backwards: the key may have been copied',
  origin: 'Signed for a site that is not this one',
  'unknown credential': 'A passkey that is not registered here',
  'wrong user': 'A passkey of another user',
  signature: 'The signature did not verify',
  challenge: 'An unknown or expired challenge',
};

const LEVELS: Record<string, string> = {
  OPTIONAL: 'optional',
  REQUIRED: 'required',
  DEFAULT: "the account's rule",
  PASSKEYS_ONLY: 'required: passkeys or security keys only',
};

const REASONS: Record<string, string> = {
  'mfa setup required': 'multi-factor authentication must be set up first',
  'password locked': 'the password is locked',
  'mfa locked': 'the user is locked after wrong passcodes',
  locked: 'the user is locked',
  'revoked by request': 'on request',
  'signed out': 'at log out',
  'password changed': 'because the password changed',
  'user disabled': 'because the user was disabled',
  'multi-factor enabled': 'because multi-factor authentication was turned on',
  'user requires multi-factor': 'because the user now requires multi-factor authentication',
  'domain requires multi-factor': 'because the account now requires multi-factor authentication',
  replaced: 'replaced by a new number',
};

const FIELDS: Record<string, string> = {
  username: 'username',
  email: 'email',
  enabled: 'enabled',
  role: 'role',
  defaultRegion: 'default region',
  domainId: 'account',
};

const text = (value: unknown): string | undefined => (typeof value === 'string' ? value : undefined);
const number = (value: unknown): number | undefined => (typeof value === 'number' ? value : undefined);

function plural(count: number, one: string, many = `${one}s`): string {
  return `${count} ${count === 1 ? one : many}`;
}

/** "a, b and c" */
function list(items: string[]): string {
  if (items.length <= 1) return items.join('');
  return `${items.slice(0, -1).join(', ')} and ${items.at(-1)}`;
}

function duration(seconds: number): string {
  if (seconds === 0) return 'until an administrator unlocks it';
  if (seconds % 3600 === 0) return `for ${plural(seconds / 3600, 'hour')}`;
  if (seconds % 60 === 0) return `for ${plural(seconds / 60, 'minute')}`;
  return `for ${plural(seconds, 'second')}`;
}

/** The methods of a login, the password first: "password and authenticator app". */
const methods = (value: unknown): string => {
  if (!Array.isArray(value)) return '';
  const order = Object.keys(METHODS);
  const sorted = value.map(String).sort((a, b) => order.indexOf(a) - order.indexOf(b));
  return list(sorted.map((method) => METHODS[method] ?? method));
};

const factor = (value: unknown): string => FACTORS[text(value) ?? ''] ?? text(value) ?? 'unknown';
const level = (value: unknown): string => LEVELS[text(value) ?? ''] ?? text(value) ?? 'not set';
const reason = (value: unknown): string | undefined =>
  text(value) === undefined ? undefined : (REASONS[text(value) ?? ''] ?? text(value));

function tokensLoggedOut(detail: Record<string, unknown>): string | undefined {
  const revoked = number(detail.tokensRevoked);
  return revoked ? `${plural(revoked, 'token')} logged out` : undefined;
}

/** One sentence per type from the detail's known fields; `undefined` parts are left out. */
function sentenceParts(type: EventType, d: Record<string, unknown>): (string | undefined)[] {
  switch (type) {
    case 'login.succeeded':
      return [
        methods(d.authenticatedBy) && `With ${methods(d.authenticatedBy)}`,
        d.scope === 'SETUP-MFA' ? 'a token that can only set up multi-factor authentication' : undefined,
        d.scope === 'ADD-PASSKEY' ? 'a session that can only add a passkey or security key' : undefined,
      ];
    case 'login.failed': {
      const method = METHODS[text(d.method) ?? ''];
      return [
        method && `With ${method}`,
        d.usernameHash !== undefined ? 'for a username that does not exist' : undefined,
        reason(d.reason) && `refused: ${reason(d.reason)}`,
      ];
    }
    case 'login.challenged':
      return [
        `By ${factor(d.factor)}`,
        d.resent === true ? 'passcode sent again' : undefined,
        d.smsSent === false ? 'no text message sent: the limit was reached' : undefined,
      ];
    case 'login.passcode_failed':
      return [
        number(d.failedAttempts) !== undefined
          ? `${plural(number(d.failedAttempts) ?? 0, 'wrong passcode')} in a row`
          : undefined,
        reason(d.reason) && `refused: ${reason(d.reason)}`,
      ];
    case 'login.rate_limited':
      return [`More than ${d.limit} failures in ${plural(number(d.windowMinutes) ?? 0, 'minute')}`];
    case 'sms.rate_limited':
      return [
        d.budget === 'temporary' ? "Limit: administrators' temporary codes" : 'Limit: text messages',
        number(d.retryAfterSeconds) !== undefined
          ? `next text possible in ${plural(number(d.retryAfterSeconds) ?? 0, 'second')}`
          : undefined,
      ];
    case 'password.locked':
      return [
        number(d.failedAttempts) !== undefined
          ? `After ${plural(number(d.failedAttempts) ?? 0, 'wrong password')}`
          : undefined,
        number(d.lockSeconds) !== undefined ? `locked ${duration(number(d.lockSeconds) ?? 0)}` : undefined,
      ];
    case 'mfa.locked':
      return [
        number(d.failedAttempts) !== undefined
          ? `After ${plural(number(d.failedAttempts) ?? 0, 'wrong passcode')}`
          : undefined,
      ];
    case 'mfa.unlocked': {
      const passwords = number(d.failedPasswords);
      // `lifted` names the locks that were on; older events have only the two flags.
      const kinds = Array.isArray(d.lifted)
        ? d.lifted.map(String)
        : [d.wasLocked === true ? 'passcode' : '', d.passwordWasLocked === true ? 'password' : ''];
      const lifted = [
        kinds.includes('passcode') ? 'the passcode lock' : undefined,
        kinds.includes('password')
          ? `the password lock${passwords ? ` (after ${plural(passwords, 'wrong password')})` : ''}`
          : undefined,
      ].filter((part): part is string => part !== undefined);
      return [lifted.length > 0 ? `Lifted ${list(lifted)}` : 'Nothing was locked'];
    }
    case 'mfa.enabled':
      return [`By ${factor(d.factorType)}`, tokensLoggedOut(d)];
    case 'mfa.disabled':
      return [d.factorType ? `Was by ${factor(d.factorType)}` : undefined];
    case 'mfa.removed':
      return [
        `Removed ${plural(number(d.otpDevicesRemoved) ?? 0, 'authenticator app')} and ${plural(number(d.phonesRemoved) ?? 0, 'phone')}`,
        d.wasEnabled === true ? 'multi-factor authentication was on' : undefined,
      ];
    case 'mfa.factor_changed':
      return [`From ${factor(d.from)} to ${factor(d.to)}`];
    case 'mfa.user_enforcement_changed':
      return [`From ${level(d.from)} to ${level(d.to)}`, tokensLoggedOut(d)];
    case 'domain.enforcement_changed': {
      // The passkeys-only choice is REQUIRED on the wire, with a flag of its own in the detail.
      const from = d.passkeysOnlyBefore === true ? 'PASSKEYS_ONLY' : d.from;
      const to = d.passkeysOnly === true ? 'PASSKEYS_ONLY' : d.to;
      return [`From ${level(from)} to ${level(to)}`, tokensLoggedOut(d)];
    }
    case 'device.added':
    case 'device.verified':
    case 'device.removed': {
      const kind = text(d.kind) ?? text(d.deviceType);
      const what = kind === 'SMS' ? 'Phone' : kind === 'OTP' ? 'Authenticator app' : 'Device';
      const name = text(d.name) ?? text(d.number);
      return [name ? `${what} ${name}` : what, reason(d.reason)];
    }
    case 'passkey.registered':
    case 'passkey.used':
    case 'passkey.renamed':
    case 'passkey.deleted':
      return [
        text(d.nickname) && `Passkey ${text(d.nickname)}`,
        d.passwordless === true ? 'without a password' : undefined,
      ];
    case 'passkey.refused':
      return [text(d.reason) && PASSKEY_REFUSALS[text(d.reason) ?? '']];
    case 'bypass_codes.generated': {
      const validity = number(d.validitySeconds);
      return [
        `${plural(number(d.count) ?? 0, 'code')}`,
        validity === undefined ? 'valid until used' : `valid ${duration(validity)}`,
        d.selfService === false ? 'by an administrator' : undefined,
      ];
    }
    case 'bypass_code.used':
    case 'temporary_code.used':
      return [];
    case 'temporary_code.sent':
      return [text(d.sentTo) && `To ${text(d.sentTo)}`, text(d.expires) && `valid until ${text(d.expires)}`];
    case 'tokens.revoked':
      return [
        number(d.count) !== undefined ? plural(number(d.count) ?? 0, 'token') : undefined,
        reason(d.reason),
        d.passwordOnly === true
          ? 'only those from a password alone: API-key tokens stay, as API keys skip multi-factor'
          : undefined,
      ];
    case 'user.created':
      return [text(d.username) && `Username ${text(d.username)}`, text(d.role) && `role ${text(d.role)}`];
    case 'user.updated': {
      const fields = Array.isArray(d.fields)
        ? d.fields.map((field) => FIELDS[String(field)] ?? String(field))
        : [];
      return [fields.length > 0 ? `Changed ${list(fields)}` : undefined];
    }
    case 'user.deleted':
      return [text(d.username) && `Username ${text(d.username)}`];
    case 'password.changed':
    case 'api_key.reset':
    case 'api_key.deleted':
      return [];
  }
}

/** Fields this module does not know yet, shown plainly rather than dropped. */
function unknownFields(detail: Record<string, unknown>, known: Set<string>): string[] {
  return Object.entries(detail)
    .filter(([key]) => !known.has(key))
    .map(([key, value]) => `${key}: ${typeof value === 'string' ? value : JSON.stringify(value)}`);
}

const KNOWN_FIELDS = new Set([
  'authenticatedBy',
  'scope',
  'method',
  'usernameHash',
  'reason',
  'factor',
  'resent',
  'smsSent',
  'failedAttempts',
  'limit',
  'windowMinutes',
  'budget',
  'retryAfterSeconds',
  'lockSeconds',
  'wasLocked',
  'passwordWasLocked',
  'failedPasswords',
  'lifted',
  'lock',
  'factorType',
  'tokensRevoked',
  'otpDevicesRemoved',
  'phonesRemoved',
  'wasEnabled',
  'from',
  'to',
  'kind',
  'deviceType',
  'deviceId',
  'name',
  'number',
  'count',
  'validitySeconds',
  'selfService',
  'sentTo',
  'expires',
  'passwordOnly',
  'username',
  'role',
  'fields',
  'via',
]);

/**
 * The event as a sentence: "With password and authenticator app." An event counted up from
 * repeats says how many times it happened.
 */
export function eventSummary(type: string, detail: Record<string, unknown>, count = 1): string {
  const parts = isEventType(type) ? sentenceParts(type, detail) : [];
  const known = isEventType(type) ? KNOWN_FIELDS : new Set<string>();
  const words = [...parts, ...unknownFields(detail, known)].filter(
    (part): part is string => typeof part === 'string' && part !== '',
  );
  if (count > 1) words.push(`${count} times within a minute`);
  if (words.length === 0) return '';
  const sentence = words.join('; ');
  return `${sentence.charAt(0).toUpperCase()}${sentence.slice(1)}.`;
}
