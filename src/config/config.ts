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

/**
 * One setting: the variable that sets it, how its text is read (bounds and error messages
 * included), its value when the variable is unset, and what it is for (the README's table and
 * `latchkey config` show this text).
 */
class Setting<T> {
  constructor(
    readonly variable: string,
    readonly parse: Parser<T>,
    readonly defaultValue: T,
    readonly doc: string,
  ) {}

  read(env: NodeJS.ProcessEnv): T {
    const raw = env[this.variable];
    return raw === undefined ? this.defaultValue : this.parse(raw, this.variable);
  }
}

const setting = <T>(variable: string, parse: Parser<T>, defaultValue: NoInfer<T>, doc: string): Setting<T> =>
  new Setting(variable, parse, defaultValue, doc);

type SettingTree = { readonly [key: string]: Setting<unknown> | SettingTree };

/** The values a tree of settings reads to, in the tree's shape. */
type ValuesOf<Tree> =
  Tree extends Setting<infer Value> ? Value : { [Key in keyof Tree]: ValuesOf<Tree[Key]> };

/**
 * Every setting, each written once, in the shape of `Config`: the type, the reader, the list
 * `latchkey config` prints and the unknown-variable check all come from this table. What one
 * setting's value does to another's (a default under the data directory, a provider's required
 * settings) is in `loadConfig`.
 */
const SETTINGS = {
  host: setting('LATCHKEY_HOST', text, '127.0.0.1', 'Address to listen on.'),
  port: setting('LATCHKEY_PORT', integer(0, 65535), 8080, 'TCP port to listen on (0 picks a free one).'),
  /** An origin (`https://id.example.com`, no trailing slash), or undefined: from each request. */
  publicUrl: setting(
    'LATCHKEY_PUBLIC_URL',
    publicUrl,
    undefined,
    "The address clients reach this service at (https://id.example.com): self links, the catalog, the / redirect and the panel's origin check use it. Unset: each request's Host (X-Forwarded-Host and -Proto only from a trusted proxy).",
  ),
  dataDir: setting(
    'LATCHKEY_DATA_DIR',
    text,
    './data',
    'Directory for the embedded database, the generated key ring and the SMS outbox.',
  ),
  databaseUrl: setting(
    'LATCHKEY_DATABASE_URL',
    databaseUrl,
    undefined,
    'sqlite:/path/file.db or postgres://...; default: embedded SQLite at <data dir>/latchkey.db.',
  ),
  redisUrl: setting(
    'LATCHKEY_REDIS_URL',
    optionalText,
    undefined,
    'Optional Redis URL (redis://host:port): the per-source login failure counters live there instead of the database.',
  ),
  secretKeys: setting(
    'LATCHKEY_SECRET_KEYS',
    optionalText,
    undefined,
    'Key ring "id:base64key,..." (32-byte keys, first one encrypts). Required in production.',
  ),
  production: setting(
    'LATCHKEY_PRODUCTION',
    boolean,
    false,
    'Refuse to start without LATCHKEY_SECRET_KEYS (also implied by NODE_ENV=production).',
  ),
  logLevel: setting(
    'LATCHKEY_LOG_LEVEL',
    oneOf('fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'),
    'info',
    'pino log level.',
  ),
  trustedProxies: setting(
    'LATCHKEY_TRUSTED_PROXIES',
    proxyList,
    [],
    'Proxies (IP addresses or CIDR ranges, comma-separated) whose X-Forwarded-For gives the client address; empty = none.',
  ),
  http: {
    requestTimeoutMs: setting(
      'LATCHKEY_REQUEST_TIMEOUT_MS',
      integer(1000, 600000),
      30000,
      'Longest time a client may take to send a whole request (headers and body).',
    ),
    headersTimeoutMs: setting(
      'LATCHKEY_HEADERS_TIMEOUT_MS',
      integer(1000, 600000),
      10000,
      'Longest time a client may take to send the request headers; a new connection silent this long is closed. At most LATCHKEY_REQUEST_TIMEOUT_MS (a longer one is taken as that, as Node requires).',
    ),
    keepAliveTimeoutMs: setting(
      'LATCHKEY_KEEP_ALIVE_TIMEOUT_MS',
      integer(100, 600000),
      5000,
      'How long an idle keep-alive connection stays open.',
    ),
    maxConnections: setting(
      'LATCHKEY_MAX_CONNECTIONS',
      integer(1, 1000000),
      1000,
      'Open client connections at most; further ones are closed at once.',
    ),
    maxConnectionsPerAddress: setting(
      'LATCHKEY_MAX_CONNECTIONS_PER_ADDRESS',
      integer(0, 1000000),
      100,
      'Open connections one client address (an IPv6 /64) may hold; further ones are closed at once. Trusted proxies are exempt. 0 = no cap.',
    ),
    maxIdleConnectionsPerAddress: setting(
      'LATCHKEY_MAX_IDLE_CONNECTIONS_PER_ADDRESS',
      integer(0, 1000000),
      50,
      'Of those, connections silent for a second or more without a request in progress (none sent yet, or idle keep-alive); past it, new ones are closed at once. Trusted proxies are exempt. 0 = no cap.',
    ),
  },
  passwordLockout: {
    attempts: setting(
      'LATCHKEY_PASSWORD_LOCKOUT_ATTEMPTS',
      integer(0, 1000),
      6,
      "Consecutive wrong passwords that lock a user's password login; 0 = never.",
    ),
    seconds: setting(
      'LATCHKEY_PASSWORD_LOCKOUT_SECONDS',
      integer(0, 31536000),
      1800,
      'How long a password lock lasts; 0 = until an administrator unlocks.',
    ),
  },
  /** Recent passwords a new one must differ from (0 = off). */
  passwordHistory: setting(
    'LATCHKEY_PASSWORD_HISTORY',
    integer(0, 24),
    0,
    "How many of a user's most recent passwords (the current one included) a new password must differ from, as Keystone's unique_last_password_count (PCI DSS: 4); 0 = off.",
  ),
  loginFailuresPerSource: setting(
    'LATCHKEY_LOGIN_FAILURES_PER_SOURCE',
    integer(0, 10000000),
    100,
    'Failed authentications (password, API key, passcode) per source address per 10 minutes, then 429; 0 = no limit.',
  ),
  tokenTtlSeconds: setting('LATCHKEY_TOKEN_TTL_SECONDS', integer(60, 31536000), 86400, 'Token lifetime.'),
  setupTokenTtlSeconds: setting(
    'LATCHKEY_SETUP_TOKEN_TTL_SECONDS',
    integer(60, 86400),
    3600,
    'SETUP-MFA token lifetime.',
  ),
  mfaSessionTtlSeconds: setting(
    'LATCHKEY_MFA_SESSION_TTL_SECONDS',
    integer(30, 3600),
    300,
    'Lifetime of an OS-MF session id.',
  ),
  lockoutThreshold: setting(
    'LATCHKEY_MFA_LOCKOUT_THRESHOLD',
    integer(1, 100),
    7,
    'Consecutive wrong passcodes that lock MFA login (the 7th locks: "more than six").',
  ),
  lockoutSeconds: setting(
    'LATCHKEY_MFA_LOCKOUT_SECONDS',
    integer(0, 31536000),
    0,
    'How long a lock lasts; 0 = until an administrator unlocks.',
  ),
  otpIssuer: setting('LATCHKEY_OTP_ISSUER', text, 'Latchkey', 'Issuer shown in authenticator apps.'),
  sms: {
    provider: setting(
      'LATCHKEY_SMS_PROVIDER',
      oneOf('outbox', 'twilio', 'webhook'),
      'outbox',
      'outbox, twilio or webhook.',
    ),
    outboxFile: setting(
      'LATCHKEY_SMS_OUTBOX',
      optionalText,
      undefined,
      'JSON-lines file the outbox provider appends to; default <data dir>/sms-outbox.jsonl.',
    ),
    twilio: {
      accountSid: setting('LATCHKEY_TWILIO_ACCOUNT_SID', optionalText, undefined, 'Twilio account SID.'),
      authToken: setting('LATCHKEY_TWILIO_AUTH_TOKEN', optionalText, undefined, 'Twilio auth token.'),
      from: setting('LATCHKEY_TWILIO_FROM', optionalText, undefined, 'Twilio sender number (E.164).'),
      apiUrl: setting('LATCHKEY_TWILIO_API_URL', text, 'https://api.twilio.com', 'Twilio API base URL.'),
    },
    webhook: {
      url: setting('LATCHKEY_SMS_WEBHOOK_URL', httpUrl, undefined, 'URL the webhook provider POSTs to.'),
      secret: setting(
        'LATCHKEY_SMS_WEBHOOK_SECRET',
        optionalText,
        undefined,
        'HMAC-SHA-256 key for the X-Latchkey-Signature header.',
      ),
    },
    timeoutMs: setting('LATCHKEY_SMS_TIMEOUT_MS', integer(100, 60000), 5000, 'Timeout of one provider call.'),
    allowedCountries: setting(
      'LATCHKEY_SMS_ALLOWED_COUNTRIES',
      countryList,
      [],
      'ISO country codes SMS may go to, comma-separated; empty = all.',
    ),
    maxPerNumber10Min: setting(
      'LATCHKEY_SMS_MAX_PER_NUMBER_10MIN',
      integer(1, 10000),
      5,
      'Messages per number per 10 min.',
    ),
    maxPerNumberDay: setting(
      'LATCHKEY_SMS_MAX_PER_NUMBER_DAY',
      integer(1, 100000),
      20,
      'Messages per number per day.',
    ),
    maxPerUserHour: setting(
      'LATCHKEY_SMS_MAX_PER_USER_HOUR',
      integer(1, 10000),
      10,
      'Messages per user per hour.',
    ),
    maxTemporaryCodesPerUserHour: setting(
      'LATCHKEY_SMS_MAX_TEMPORARY_CODES_PER_USER_HOUR',
      integer(1, 10000),
      5,
      'Temporary codes sent by administrators per user per hour (their own budget, apart from the limits above).',
    ),
  },
  catalogFile: setting(
    'LATCHKEY_CATALOG_FILE',
    optionalText,
    undefined,
    'JSON service catalog with {tenantId} placeholders; default [].',
  ),
  bootstrapAdmin: {
    username: setting(
      'LATCHKEY_BOOTSTRAP_ADMIN_USERNAME',
      optionalText,
      undefined,
      'Create this identity:admin on start.',
    ),
    password: setting('LATCHKEY_BOOTSTRAP_ADMIN_PASSWORD', optionalText, undefined, 'Its password.'),
  },
  metricsToken: setting(
    'LATCHKEY_METRICS_TOKEN',
    optionalText,
    undefined,
    'Bearer token /metrics requires; required when LATCHKEY_HOST is not a loopback address.',
  ),
  eventsRetentionDays: setting(
    'LATCHKEY_EVENTS_RETENTION_DAYS',
    integer(1, 36500),
    90,
    'Days security events are kept.',
  ),
  failureEventsRetentionDays: setting(
    'LATCHKEY_FAILURE_EVENTS_RETENTION_DAYS',
    integer(1, 36500),
    7,
    'Days failed-login and rate-limit events are kept.',
  ),
  argon2: {
    memoryKib: setting(
      'LATCHKEY_ARGON2_MEMORY_KIB',
      integer(1024, 4194304),
      19456,
      'argon2id memory cost (OWASP: 19456 KiB).',
    ),
    iterations: setting('LATCHKEY_ARGON2_ITERATIONS', integer(1, 100), 2, 'argon2id time cost (OWASP: 2).'),
  },
} satisfies SettingTree;

type SettingValues = ValuesOf<typeof SETTINGS>;

/** The settings of a tree, depth first: the table's order, which `latchkey config` keeps. */
function settingsIn(tree: SettingTree): Setting<unknown>[] {
  return Object.values(tree).flatMap((node) => (node instanceof Setting ? [node] : settingsIn(node)));
}

function readTree(tree: SettingTree, env: NodeJS.ProcessEnv): unknown {
  return Object.fromEntries(
    Object.entries(tree).map(([key, node]) => [
      key,
      node instanceof Setting ? node.read(env) : readTree(node, env),
    ]),
  );
}

const ALL_SETTINGS = settingsIn(SETTINGS);
const VARIABLES = new Set(ALL_SETTINGS.map((each) => each.variable));

export const configDocs = ALL_SETTINGS.map((each) => ({
  name: each.variable,
  doc: each.doc,
  default: each.defaultValue,
}));

/**
 * Every setting as `latchkey config` lists it, in the table's order: the text the environment
 * gives it, else its default (null when it has none), and which of the two that is.
 */
export function settingSources(env: NodeJS.ProcessEnv): {
  name: string;
  value: unknown;
  source: 'environment' | 'default';
  doc: string;
}[] {
  return ALL_SETTINGS.map((each) => {
    const raw = env[each.variable];
    return {
      name: each.variable,
      value: raw ?? each.defaultValue ?? null,
      source: raw === undefined ? 'default' : 'environment',
      doc: each.doc,
    };
  });
}

function readValues(env: NodeJS.ProcessEnv): SettingValues {
  const values = readTree(SETTINGS, env) as SettingValues;
  for (const name of Object.keys(env)) {
    const replacement = REPLACED[name];
    if (replacement) throw new ConfigError(name, replacement);
    if (name.startsWith('LATCHKEY_') && !VARIABLES.has(name) && !name.startsWith('LATCHKEY_TEST_')) {
      throw new ConfigError(name, 'unknown setting (check the spelling)');
    }
  }
  return values;
}

type AllSet<Group> = { [Key in keyof Group]: Exclude<Group[Key], undefined> };

/** A group of settings that one choice needs in full: the first one unset is named. */
function requireAll<Group extends Record<string, unknown>>(
  values: Group,
  settings: { [Key in keyof Group]: Setting<Group[Key]> },
  why: string,
): AllSet<Group> {
  for (const key of Object.keys(settings) as (keyof Group)[]) {
    if (values[key] === undefined) throw new ConfigError(settings[key].variable, why);
  }
  return values as AllSet<Group>;
}

/**
 * The settings read from `env` and checked against each other. Each value is the table's; what
 * is derived here: paths made absolute, the defaults under the data directory, the provider's
 * settings present only for that provider, the bootstrap pair, production (also NODE_ENV), and a
 * headers timeout no longer than the request timeout (Node refuses a longer one).
 */
export function loadConfig(env: NodeJS.ProcessEnv = process.env) {
  const v = readValues(env);
  const dataDir = path.resolve(v.dataDir);
  const { provider } = v.sms;
  const twilio =
    provider === 'twilio'
      ? requireAll(v.sms.twilio, SETTINGS.sms.twilio, 'required when LATCHKEY_SMS_PROVIDER=twilio')
      : undefined;
  const webhook =
    provider === 'webhook'
      ? requireAll(v.sms.webhook, SETTINGS.sms.webhook, 'required when LATCHKEY_SMS_PROVIDER=webhook')
      : undefined;
  const { username, password } = v.bootstrapAdmin;
  if ((username === undefined) !== (password === undefined)) {
    throw new ConfigError(
      (username === undefined ? SETTINGS.bootstrapAdmin.username : SETTINGS.bootstrapAdmin.password).variable,
      'set both LATCHKEY_BOOTSTRAP_ADMIN_USERNAME and LATCHKEY_BOOTSTRAP_ADMIN_PASSWORD, or neither',
    );
  }
  if (!isLoopbackHost(v.host) && v.metricsToken === undefined) {
    throw new ConfigError(
      SETTINGS.metricsToken.variable,
      `required when LATCHKEY_HOST (${v.host}) is not a loopback address, or /metrics would be open to the network; set a long random token and give it to the scraper`,
    );
  }
  const production = v.production || env.NODE_ENV === 'production';
  if (production && !v.secretKeys) {
    throw new ConfigError(SETTINGS.secretKeys.variable, 'required in production (no generated key ring)');
  }
  return {
    ...v,
    dataDir,
    databaseUrl: v.databaseUrl ?? `sqlite:${path.join(dataDir, 'latchkey.db')}`,
    production,
    http: { ...v.http, headersTimeoutMs: Math.min(v.http.headersTimeoutMs, v.http.requestTimeoutMs) },
    sms: {
      ...v.sms,
      outboxFile: path.resolve(v.sms.outboxFile ?? path.join(dataDir, 'sms-outbox.jsonl')),
      twilio,
      webhook,
    },
    bootstrapAdmin: username !== undefined && password !== undefined ? { username, password } : undefined,
  };
}

/** The settings a server runs with: the table's values, after loadConfig's derivations. */
export type Config = ReturnType<typeof loadConfig>;
