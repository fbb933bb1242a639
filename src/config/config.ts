import { isIP } from 'node:net';
import path from 'node:path';
import ipaddr from 'ipaddr.js';

/**
 * Every setting is one LATCHKEY_* environment variable, read once here and validated at boot.
 * A bad value stops the process with a message naming the variable.
 */
export class ConfigError extends Error {
  constructor(
    readonly variable: string,
    message: string,
  ) {
    super(`${variable}: ${message}`);
    this.name = 'ConfigError';
  }
}

type Parser<T> = (raw: string, name: string) => T;

interface Setting<T> {
  doc: string;
  default: T;
  parse: Parser<T>;
}

const integer =
  (min: number, max: number): Parser<number> =>
  (raw, name) => {
    if (!/^-?\d+$/.test(raw.trim())) throw new ConfigError(name, `expected an integer, got '${raw}'`);
    const value = Number(raw.trim());
    if (value < min || value > max)
      throw new ConfigError(name, `must be between ${min} and ${max}, got ${value}`);
    return value;
  };

const text: Parser<string> = (raw) => raw;
const optionalText: Parser<string | undefined> = (raw) => (raw === '' ? undefined : raw);

const oneOf =
  <T extends string>(...values: T[]): Parser<T> =>
  (raw, name) => {
    if (!(values as string[]).includes(raw))
      throw new ConfigError(name, `must be one of ${values.join(', ')}`);
    return raw as T;
  };

const boolean: Parser<boolean> = (raw, name) => {
  if (['1', 'true', 'yes'].includes(raw.toLowerCase())) return true;
  if (['0', 'false', 'no'].includes(raw.toLowerCase())) return false;
  throw new ConfigError(name, `expected true or false, got '${raw}'`);
};

const databaseUrl: Parser<string | undefined> = (raw, name) => {
  if (raw === '') return undefined;
  if (!/^(sqlite:|postgres:\/\/|postgresql:\/\/)/.test(raw))
    throw new ConfigError(name, 'must start with sqlite: or postgres://');
  return raw;
};

const httpUrl: Parser<string | undefined> = (raw, name) => {
  if (raw === '') return undefined;
  try {
    const url = new URL(raw);
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new Error('scheme');
  } catch {
    throw new ConfigError(name, `must be an http(s) URL, got '${raw}'`);
  }
  return raw;
};

/**
 * An origin (scheme, host, port) clients reach this service at: the base of its self links and
 * the origin its pages are served from (browsers' Origin header; a WebAuthn relying party's
 * origin). A path, query or user name would not be an origin, so they are refused.
 */
const publicUrl: Parser<string | undefined> = (raw, name) => {
  if (raw === '') return undefined;
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new ConfigError(
      name,
      `must be an absolute http(s) URL such as https://id.example.com, got '${raw}'`,
    );
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:')
    throw new ConfigError(name, `must be an http(s) URL such as https://id.example.com, got '${raw}'`);
  if (
    url.username !== '' ||
    url.password !== '' ||
    url.search !== '' ||
    url.hash !== '' ||
    url.pathname !== '/'
  )
    throw new ConfigError(
      name,
      `must be the scheme, host and port alone (no path, query or user), such as https://id.example.com, got '${raw}'`,
    );
  return url.origin;
};

const countryList: Parser<string[]> = (raw, name) => {
  const codes = raw
    .split(',')
    .map((code) => code.trim().toUpperCase())
    .filter((code) => code !== '');
  for (const code of codes) {
    if (!/^[A-Z]{2}$/.test(code)) throw new ConfigError(name, `'${code}' is not an ISO 3166 alpha-2 code`);
  }
  return codes;
};

/** Addresses or CIDR ranges, comma-separated: the proxies whose X-Forwarded-For is believed. */
const proxyList: Parser<string[]> = (raw, name) => {
  const entries = raw
    .split(',')
    .map((entry) => entry.trim())
    .filter((entry) => entry !== '');
  for (const entry of entries) {
    const valid = entry.includes('/') ? isCidr(entry) : ipaddr.isValid(entry);
    if (!valid) throw new ConfigError(name, `'${entry}' is not an IP address or CIDR range`);
  }
  return entries;
};

function isCidr(text: string): boolean {
  try {
    ipaddr.parseCIDR(text);
    return true;
  } catch {
    return false;
  }
}

/** Settings that were replaced: naming the new one beats "unknown setting". */
const REPLACED: Record<string, string> = {
  LATCHKEY_TRUST_PROXY: 'replaced by LATCHKEY_TRUSTED_PROXIES (the addresses or CIDR ranges of your proxies)',
};

/** 127.0.0.0/8, ::1 (also IPv4-mapped) and localhost: addresses nothing off this machine reaches. */
export function isLoopbackHost(host: string): boolean {
  const address = host.replace(/^\[|\]$/g, '').toLowerCase();
  if (address === 'localhost') return true;
  if (isIP(address) === 6) {
    if (address === '::1' || address === '0:0:0:0:0:0:0:1') return true;
    const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/.exec(address)?.[1];
    return mapped?.startsWith('127.') === true;
  }
  return isIP(address) === 4 && address.startsWith('127.');
}

const schema = {
  LATCHKEY_HOST: { doc: 'Address to listen on.', default: '127.0.0.1', parse: text },
  LATCHKEY_PORT: {
    doc: 'TCP port to listen on (0 picks a free one).',
    default: 8080,
    parse: integer(0, 65535),
  },
  LATCHKEY_PUBLIC_URL: {
    doc: "The address clients reach this service at (https://id.example.com): self links, the catalog, the / redirect and the panel's origin check use it. Unset: each request's Host (X-Forwarded-Host and -Proto only from a trusted proxy).",
    default: undefined,
    parse: publicUrl,
  },
  LATCHKEY_DATA_DIR: {
    doc: 'Directory for the embedded database, the generated key ring and the SMS outbox.',
    default: './data',
    parse: text,
  },
  LATCHKEY_DATABASE_URL: {
    doc: 'sqlite:/path/file.db or postgres://...; default: embedded SQLite at <data dir>/latchkey.db.',
    default: undefined,
    parse: databaseUrl,
  },
  LATCHKEY_REDIS_URL: {
    doc: 'Optional Redis URL (redis://host:port): the per-source login failure counters live there instead of the database.',
    default: undefined,
    parse: optionalText,
  },
  LATCHKEY_SECRET_KEYS: {
    doc: 'Key ring "id:base64key,..." (32-byte keys, first one encrypts). Required in production.',
    default: undefined,
    parse: optionalText,
  },
  LATCHKEY_PRODUCTION: {
    doc: 'Refuse to start without LATCHKEY_SECRET_KEYS (also implied by NODE_ENV=production).',
    default: false,
    parse: boolean,
  },
  LATCHKEY_LOG_LEVEL: {
    doc: 'pino log level.',
    default: 'info',
    parse: oneOf('fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'),
  },
  LATCHKEY_TRUSTED_PROXIES: {
    doc: 'Proxies (IP addresses or CIDR ranges, comma-separated) whose X-Forwarded-For gives the client address; empty = none.',
    default: [] as string[],
    parse: proxyList,
  },
  LATCHKEY_REQUEST_TIMEOUT_MS: {
    doc: 'Longest time a client may take to send a whole request (headers and body).',
    default: 30000,
    parse: integer(1000, 600000),
  },
  LATCHKEY_HEADERS_TIMEOUT_MS: {
    doc: 'Longest time a client may take to send the request headers; a new connection silent this long is closed. At most LATCHKEY_REQUEST_TIMEOUT_MS (a longer one is taken as that, as Node requires).',
    default: 10000,
    parse: integer(1000, 600000),
  },
  LATCHKEY_KEEP_ALIVE_TIMEOUT_MS: {
    doc: 'How long an idle keep-alive connection stays open.',
    default: 5000,
    parse: integer(100, 600000),
  },
  LATCHKEY_MAX_CONNECTIONS: {
    doc: 'Open client connections at most; further ones are closed at once.',
    default: 1000,
    parse: integer(1, 1000000),
  },
  LATCHKEY_MAX_CONNECTIONS_PER_ADDRESS: {
    doc: 'Open connections one client address (an IPv6 /64) may hold; further ones are closed at once. Trusted proxies are exempt. 0 = no cap.',
    default: 100,
    parse: integer(0, 1000000),
  },
  LATCHKEY_MAX_IDLE_CONNECTIONS_PER_ADDRESS: {
    doc: 'Of those, connections silent for a second or more without a request in progress (none sent yet, or idle keep-alive); past it, new ones are closed at once. Trusted proxies are exempt. 0 = no cap.',
    default: 50,
    parse: integer(0, 1000000),
  },
  LATCHKEY_PASSWORD_LOCKOUT_ATTEMPTS: {
    doc: "Consecutive wrong passwords that lock a user's password login; 0 = never.",
    default: 6,
    parse: integer(0, 1000),
  },
  LATCHKEY_PASSWORD_LOCKOUT_SECONDS: {
    doc: 'How long a password lock lasts; 0 = until an administrator unlocks.',
    default: 1800,
    parse: integer(0, 31536000),
  },
  LATCHKEY_PASSWORD_HISTORY: {
    doc: "How many of a user's most recent passwords (the current one included) a new password must differ from, as Keystone's unique_last_password_count (PCI DSS: 4); 0 = off.",
    default: 0,
    parse: integer(0, 24),
  },
  LATCHKEY_LOGIN_FAILURES_PER_SOURCE: {
    doc: 'Failed authentications (password, API key, passcode) per source address per 10 minutes, then 429; 0 = no limit.',
    default: 100,
    parse: integer(0, 10000000),
  },
  LATCHKEY_TOKEN_TTL_SECONDS: { doc: 'Token lifetime.', default: 86400, parse: integer(60, 31536000) },
  LATCHKEY_SETUP_TOKEN_TTL_SECONDS: {
    doc: 'SETUP-MFA token lifetime.',
    default: 3600,
    parse: integer(60, 86400),
  },
  LATCHKEY_MFA_SESSION_TTL_SECONDS: {
    doc: 'Lifetime of an OS-MF session id.',
    default: 300,
    parse: integer(30, 3600),
  },
  LATCHKEY_MFA_LOCKOUT_THRESHOLD: {
    doc: 'Consecutive wrong passcodes that lock MFA login (the 7th locks: "more than six").',
    default: 7,
    parse: integer(1, 100),
  },
  LATCHKEY_MFA_LOCKOUT_SECONDS: {
    doc: 'How long a lock lasts; 0 = until an administrator unlocks.',
    default: 0,
    parse: integer(0, 31536000),
  },
  LATCHKEY_OTP_ISSUER: { doc: 'Issuer shown in authenticator apps.', default: 'Latchkey', parse: text },
  LATCHKEY_SMS_PROVIDER: {
    doc: 'outbox, twilio or webhook.',
    default: 'outbox',
    parse: oneOf('outbox', 'twilio', 'webhook'),
  },
  LATCHKEY_SMS_OUTBOX: {
    doc: 'JSON-lines file the outbox provider appends to; default <data dir>/sms-outbox.jsonl.',
    default: undefined,
    parse: optionalText,
  },
  LATCHKEY_TWILIO_ACCOUNT_SID: { doc: 'Twilio account SID.', default: undefined, parse: optionalText },
  LATCHKEY_TWILIO_AUTH_TOKEN: { doc: 'Twilio auth token.', default: undefined, parse: optionalText },
  LATCHKEY_TWILIO_FROM: { doc: 'Twilio sender number (E.164).', default: undefined, parse: optionalText },
  LATCHKEY_TWILIO_API_URL: { doc: 'Twilio API base URL.', default: 'https://api.twilio.com', parse: text },
  LATCHKEY_SMS_WEBHOOK_URL: { doc: 'URL the webhook provider POSTs to.', default: undefined, parse: httpUrl },
  LATCHKEY_SMS_WEBHOOK_SECRET: {
    doc: 'HMAC-SHA-256 key for the X-Latchkey-Signature header.',
    default: undefined,
    parse: optionalText,
  },
  LATCHKEY_SMS_TIMEOUT_MS: {
    doc: 'Timeout of one provider call.',
    default: 5000,
    parse: integer(100, 60000),
  },
  LATCHKEY_SMS_ALLOWED_COUNTRIES: {
    doc: 'ISO country codes SMS may go to, comma-separated; empty = all.',
    default: [] as string[],
    parse: countryList,
  },
  LATCHKEY_SMS_MAX_PER_NUMBER_10MIN: {
    doc: 'Messages per number per 10 min.',
    default: 5,
    parse: integer(1, 10000),
  },
  LATCHKEY_SMS_MAX_PER_NUMBER_DAY: {
    doc: 'Messages per number per day.',
    default: 20,
    parse: integer(1, 100000),
  },
  LATCHKEY_SMS_MAX_PER_USER_HOUR: {
    doc: 'Messages per user per hour.',
    default: 10,
    parse: integer(1, 10000),
  },
  LATCHKEY_SMS_MAX_TEMPORARY_CODES_PER_USER_HOUR: {
    doc: 'Temporary codes sent by administrators per user per hour (their own budget, apart from the limits above).',
    default: 5,
    parse: integer(1, 10000),
  },
  LATCHKEY_CATALOG_FILE: {
    doc: 'JSON service catalog with {tenantId} placeholders; default [].',
    default: undefined,
    parse: optionalText,
  },
  LATCHKEY_BOOTSTRAP_ADMIN_USERNAME: {
    doc: 'Create this identity:admin on start.',
    default: undefined,
    parse: optionalText,
  },
  LATCHKEY_BOOTSTRAP_ADMIN_PASSWORD: { doc: 'Its password.', default: undefined, parse: optionalText },
  LATCHKEY_METRICS_TOKEN: {
    doc: 'Bearer token /metrics requires; required when LATCHKEY_HOST is not a loopback address.',
    default: undefined,
    parse: optionalText,
  },
  LATCHKEY_EVENTS_RETENTION_DAYS: {
    doc: 'Days security events are kept.',
    default: 90,
    parse: integer(1, 36500),
  },
  LATCHKEY_FAILURE_EVENTS_RETENTION_DAYS: {
    doc: 'Days failed-login and rate-limit events are kept.',
    default: 7,
    parse: integer(1, 36500),
  },
  LATCHKEY_ARGON2_MEMORY_KIB: {
    doc: 'argon2id memory cost (OWASP: 19456 KiB).',
    default: 19456,
    parse: integer(1024, 4194304),
  },
  LATCHKEY_ARGON2_ITERATIONS: { doc: 'argon2id time cost (OWASP: 2).', default: 2, parse: integer(1, 100) },
} satisfies Record<string, Setting<unknown>>;

type Schema = typeof schema;
export type ConfigValues = { [K in keyof Schema]: ReturnType<Schema[K]['parse']> | Schema[K]['default'] };

export interface Config {
  host: string;
  port: number;
  /** An origin (`https://id.example.com`, no trailing slash), or undefined: from each request. */
  publicUrl: string | undefined;
  dataDir: string;
  databaseUrl: string;
  redisUrl: string | undefined;
  secretKeys: string | undefined;
  production: boolean;
  logLevel: string;
  trustedProxies: string[];
  http: {
    requestTimeoutMs: number;
    headersTimeoutMs: number;
    keepAliveTimeoutMs: number;
    maxConnections: number;
    maxConnectionsPerAddress: number;
    maxIdleConnectionsPerAddress: number;
  };
  passwordLockout: { attempts: number; seconds: number };
  /** Recent passwords a new one must differ from (0 = off). */
  passwordHistory: number;
  loginFailuresPerSource: number;
  tokenTtlSeconds: number;
  setupTokenTtlSeconds: number;
  mfaSessionTtlSeconds: number;
  lockoutThreshold: number;
  lockoutSeconds: number;
  otpIssuer: string;
  sms: {
    provider: 'outbox' | 'twilio' | 'webhook';
    outboxFile: string;
    twilio: { accountSid: string; authToken: string; from: string; apiUrl: string } | undefined;
    webhook: { url: string; secret: string } | undefined;
    timeoutMs: number;
    allowedCountries: string[];
    maxPerNumber10Min: number;
    maxPerNumberDay: number;
    maxPerUserHour: number;
    maxTemporaryCodesPerUserHour: number;
  };
  catalogFile: string | undefined;
  bootstrapAdmin: { username: string; password: string } | undefined;
  metricsToken: string | undefined;
  eventsRetentionDays: number;
  failureEventsRetentionDays: number;
  argon2: { memoryKib: number; iterations: number };
}

export const configDocs = Object.entries(schema).map(([name, setting]) => ({
  name,
  doc: setting.doc,
  default: setting.default,
}));

function readValues(env: NodeJS.ProcessEnv): ConfigValues {
  const values: Record<string, unknown> = {};
  for (const [name, setting] of Object.entries(schema) as [string, Setting<unknown>][]) {
    const raw = env[name];
    values[name] = raw === undefined ? setting.default : setting.parse(raw, name);
  }
  for (const name of Object.keys(env)) {
    const replacement = REPLACED[name];
    if (replacement) throw new ConfigError(name, replacement);
    if (name.startsWith('LATCHKEY_') && !(name in schema) && !name.startsWith('LATCHKEY_TEST_')) {
      throw new ConfigError(name, 'unknown setting (check the spelling)');
    }
  }
  return values as ConfigValues;
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const v = readValues(env);
  const dataDir = path.resolve(v.LATCHKEY_DATA_DIR);
  const provider = v.LATCHKEY_SMS_PROVIDER as Config['sms']['provider'];
  let twilio: Config['sms']['twilio'];
  if (provider === 'twilio') {
    for (const name of [
      'LATCHKEY_TWILIO_ACCOUNT_SID',
      'LATCHKEY_TWILIO_AUTH_TOKEN',
      'LATCHKEY_TWILIO_FROM',
    ] as const) {
      if (!v[name]) throw new ConfigError(name, 'required when LATCHKEY_SMS_PROVIDER=twilio');
    }
    twilio = {
      accountSid: v.LATCHKEY_TWILIO_ACCOUNT_SID ?? '',
      authToken: v.LATCHKEY_TWILIO_AUTH_TOKEN ?? '',
      from: v.LATCHKEY_TWILIO_FROM ?? '',
      apiUrl: v.LATCHKEY_TWILIO_API_URL,
    };
  }
  let webhook: Config['sms']['webhook'];
  if (provider === 'webhook') {
    for (const name of ['LATCHKEY_SMS_WEBHOOK_URL', 'LATCHKEY_SMS_WEBHOOK_SECRET'] as const) {
      if (!v[name]) throw new ConfigError(name, 'required when LATCHKEY_SMS_PROVIDER=webhook');
    }
    webhook = { url: v.LATCHKEY_SMS_WEBHOOK_URL ?? '', secret: v.LATCHKEY_SMS_WEBHOOK_SECRET ?? '' };
  }
  const username = v.LATCHKEY_BOOTSTRAP_ADMIN_USERNAME;
  const password = v.LATCHKEY_BOOTSTRAP_ADMIN_PASSWORD;
  if ((username === undefined) !== (password === undefined)) {
    throw new ConfigError(
      username === undefined ? 'LATCHKEY_BOOTSTRAP_ADMIN_USERNAME' : 'LATCHKEY_BOOTSTRAP_ADMIN_PASSWORD',
      'set both LATCHKEY_BOOTSTRAP_ADMIN_USERNAME and LATCHKEY_BOOTSTRAP_ADMIN_PASSWORD, or neither',
    );
  }
  if (!isLoopbackHost(v.LATCHKEY_HOST) && v.LATCHKEY_METRICS_TOKEN === undefined) {
    throw new ConfigError(
      'LATCHKEY_METRICS_TOKEN',
      `required when LATCHKEY_HOST (${v.LATCHKEY_HOST}) is not a loopback address, or /metrics would be open to the network; set a long random token and give it to the scraper`,
    );
  }
  const production = v.LATCHKEY_PRODUCTION || env.NODE_ENV === 'production';
  if (production && !v.LATCHKEY_SECRET_KEYS) {
    throw new ConfigError('LATCHKEY_SECRET_KEYS', 'required in production (no generated key ring)');
  }
  return {
    host: v.LATCHKEY_HOST,
    port: v.LATCHKEY_PORT,
    publicUrl: v.LATCHKEY_PUBLIC_URL,
    dataDir,
    databaseUrl: v.LATCHKEY_DATABASE_URL ?? `sqlite:${path.join(dataDir, 'latchkey.db')}`,
    redisUrl: v.LATCHKEY_REDIS_URL,
    secretKeys: v.LATCHKEY_SECRET_KEYS,
    production,
    logLevel: v.LATCHKEY_LOG_LEVEL,
    trustedProxies: v.LATCHKEY_TRUSTED_PROXIES,
    http: {
      requestTimeoutMs: v.LATCHKEY_REQUEST_TIMEOUT_MS,
      headersTimeoutMs: Math.min(v.LATCHKEY_HEADERS_TIMEOUT_MS, v.LATCHKEY_REQUEST_TIMEOUT_MS),
      keepAliveTimeoutMs: v.LATCHKEY_KEEP_ALIVE_TIMEOUT_MS,
      maxConnections: v.LATCHKEY_MAX_CONNECTIONS,
      maxConnectionsPerAddress: v.LATCHKEY_MAX_CONNECTIONS_PER_ADDRESS,
      maxIdleConnectionsPerAddress: v.LATCHKEY_MAX_IDLE_CONNECTIONS_PER_ADDRESS,
    },
    passwordLockout: {
      attempts: v.LATCHKEY_PASSWORD_LOCKOUT_ATTEMPTS,
      seconds: v.LATCHKEY_PASSWORD_LOCKOUT_SECONDS,
    },
    passwordHistory: v.LATCHKEY_PASSWORD_HISTORY,
    loginFailuresPerSource: v.LATCHKEY_LOGIN_FAILURES_PER_SOURCE,
    tokenTtlSeconds: v.LATCHKEY_TOKEN_TTL_SECONDS,
    setupTokenTtlSeconds: v.LATCHKEY_SETUP_TOKEN_TTL_SECONDS,
    mfaSessionTtlSeconds: v.LATCHKEY_MFA_SESSION_TTL_SECONDS,
    lockoutThreshold: v.LATCHKEY_MFA_LOCKOUT_THRESHOLD,
    lockoutSeconds: v.LATCHKEY_MFA_LOCKOUT_SECONDS,
    otpIssuer: v.LATCHKEY_OTP_ISSUER,
    sms: {
      provider,
      outboxFile: path.resolve(v.LATCHKEY_SMS_OUTBOX ?? path.join(dataDir, 'sms-outbox.jsonl')),
      twilio,
      webhook,
      timeoutMs: v.LATCHKEY_SMS_TIMEOUT_MS,
      allowedCountries: v.LATCHKEY_SMS_ALLOWED_COUNTRIES,
      maxPerNumber10Min: v.LATCHKEY_SMS_MAX_PER_NUMBER_10MIN,
      maxPerNumberDay: v.LATCHKEY_SMS_MAX_PER_NUMBER_DAY,
      maxPerUserHour: v.LATCHKEY_SMS_MAX_PER_USER_HOUR,
      maxTemporaryCodesPerUserHour: v.LATCHKEY_SMS_MAX_TEMPORARY_CODES_PER_USER_HOUR,
    },
    catalogFile: v.LATCHKEY_CATALOG_FILE,
    bootstrapAdmin: username && password ? { username, password } : undefined,
    metricsToken: v.LATCHKEY_METRICS_TOKEN,
    eventsRetentionDays: v.LATCHKEY_EVENTS_RETENTION_DAYS,
    failureEventsRetentionDays: v.LATCHKEY_FAILURE_EVENTS_RETENTION_DAYS,
    argon2: { memoryKib: v.LATCHKEY_ARGON2_MEMORY_KIB, iterations: v.LATCHKEY_ARGON2_ITERATIONS },
  };
}
