import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { AccessResponse, AuthMethod, TokenScope } from '../http/v2/wire.js';
import { notLoggedIn, usageError } from './failure.js';

/** What `latchkey login` keeps between commands, per profile: one server, one token. */
export interface Session {
  url: string;
  token: string;
  expires: string;
  userId: string;
  username: string;
  domainId: string | null;
  roles: string[];
  authenticatedBy: AuthMethod[];
  scope: TokenScope | null;
}

export const DEFAULT_URL = 'http://127.0.0.1:8080';

export function configDir(): string {
  const base = process.env.XDG_CONFIG_HOME || path.join(os.homedir(), '.config');
  return path.join(base, 'latchkey');
}

export const DEFAULT_PROFILE = 'default';
const PROFILE_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

let activeProfile = DEFAULT_PROFILE;

/**
 * The profile commands act in: `--profile`, else LATCHKEY_PROFILE, else `default`. Each profile
 * is one saved session (a server and a user), so several servers or users are a flag apart.
 */
export function chooseProfile(flag: string | undefined): void {
  const name = flag ?? (process.env.LATCHKEY_PROFILE || undefined) ?? DEFAULT_PROFILE;
  if (!PROFILE_NAME.test(name)) {
    throw usageError(
      `'${name}' is not a profile name: letters, digits, '.', '_' and '-', starting with a letter or digit`,
    );
  }
  activeProfile = name;
}

export const profileName = (): string => activeProfile;

/** `latchkey login`, with the profile named when it is not the default one. */
export const loginCommand = (): string =>
  activeProfile === DEFAULT_PROFILE ? 'latchkey login' : `latchkey login --profile ${activeProfile}`;

const profilesDir = (): string => path.join(configDir(), 'profiles');
const profileFile = (name: string): string => path.join(profilesDir(), `${name}.json`);
/** Where versions before profiles kept their one session: it becomes the default profile. */
const legacySessionFile = (): string => path.join(configDir(), 'session.json');

export const sessionFile = (): string => profileFile(activeProfile);

function ensureDirectories(): void {
  fs.mkdirSync(configDir(), { recursive: true, mode: 0o700 });
  fs.mkdirSync(profilesDir(), { recursive: true, mode: 0o700 });
}

/** The single session.json of earlier versions moves, as it is, to the default profile. */
function migrateLegacySession(): void {
  if (!fs.existsSync(legacySessionFile()) || fs.existsSync(profileFile(DEFAULT_PROFILE))) return;
  ensureDirectories();
  try {
    fs.renameSync(legacySessionFile(), profileFile(DEFAULT_PROFILE));
  } catch (error) {
    // Another latchkey moved it first.
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
}

/**
 * `https://host/v2.0/`, `https://host/v3` and `https://host` name the same server: OS_AUTH_URL
 * usually carries the version (`token --export` sets the /v3 one), LATCHKEY_URL need not.
 */
export function normaliseUrl(raw: string): string {
  let url: URL;
  try {
    url = new URL(raw.trim());
  } catch {
    throw usageError(`'${raw}' is not a URL (expected e.g. ${DEFAULT_URL})`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw usageError(`'${raw}' is not an http or https URL`);
  }
  url.search = '';
  url.hash = '';
  return url
    .toString()
    .replace(/\/+$/, '')
    .replace(/\/(v2\.0|v3)$/i, '');
}

/** The server named on the command line or in the environment, if any. */
export function explicitUrl(flag: string | undefined): string | undefined {
  const raw = flag ?? (process.env.LATCHKEY_URL || undefined) ?? (process.env.OS_AUTH_URL || undefined);
  return raw === undefined ? undefined : normaliseUrl(raw);
}

export function sessionFrom(url: string, answer: AccessResponse): Session {
  const { token, user } = answer.access;
  return {
    url,
    token: token.id,
    expires: token.expires,
    userId: user.id,
    username: user.name,
    domainId: user['RAX-AUTH:domainId'] ?? null,
    roles: user.roles.map((role) => role.name),
    authenticatedBy: token['RAX-AUTH:authenticatedBy'],
    scope: token['RAX-AUTH:scope'] ?? null,
  };
}

export function readSession(name = activeProfile): Session | undefined {
  if (name === DEFAULT_PROFILE) migrateLegacySession();
  const file = profileFile(name);
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
  try {
    const parsed = JSON.parse(text) as Partial<Session>;
    if (
      typeof parsed.token === 'string' &&
      typeof parsed.url === 'string' &&
      typeof parsed.expires === 'string'
    )
      return parsed as Session;
  } catch {
    // fall through: a damaged cache is as good as none
  }
  throw notLoggedIn(`the token cache ${file} is damaged: run '${loginCommand()}' again`);
}

/**
 * The token is a bearer secret: the directory is the user's alone and the file is written 0600
 * before it holds anything, then renamed into place so a reader never sees half a file.
 */
export function writeSession(session: Session): void {
  if (activeProfile === DEFAULT_PROFILE) migrateLegacySession();
  ensureDirectories();
  const file = sessionFile();
  const temporary = `${file}.${process.pid}.tmp`;
  const fd = fs.openSync(temporary, 'w', 0o600);
  try {
    fs.fchmodSync(fd, 0o600);
    fs.writeSync(fd, `${JSON.stringify(session, null, 2)}\n`);
  } finally {
    fs.closeSync(fd);
  }
  fs.renameSync(temporary, file);
}

export function removeSession(): boolean {
  if (activeProfile === DEFAULT_PROFILE) migrateLegacySession();
  try {
    fs.unlinkSync(sessionFile());
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw error;
  }
}

export const isExpired = (session: Session, now = Date.now()): boolean => Date.parse(session.expires) <= now;

/**
 * The session a client command acts with: present, unexpired, and for the server asked for (if
 * one was named). Checked before any request, so the message says what to do. OS_AUTH_URL only
 * chooses where to log in: it is often set for other clouds' tools and must not block commands.
 */
export function requireSession(urlFlag: string | undefined): Session {
  const session = readSession();
  if (!session) {
    const which = activeProfile === DEFAULT_PROFILE ? '' : ` in profile ${activeProfile}`;
    throw notLoggedIn(`not logged in${which}: run '${loginCommand()}' first`);
  }
  const named = urlFlag ?? (process.env.LATCHKEY_URL || undefined);
  const wanted = named === undefined ? undefined : normaliseUrl(named);
  if (wanted !== undefined && wanted !== session.url) {
    throw notLoggedIn(`logged in to ${session.url}, not ${wanted}: run '${loginCommand()} --url ${wanted}'`);
  }
  if (isExpired(session)) {
    throw notLoggedIn(`your token expired at ${session.expires}: run '${loginCommand()}' again`);
  }
  return session;
}

export interface SavedProfile {
  name: string;
  current: boolean;
  session: Session | undefined;
  damaged: boolean;
}

/** Every profile with a saved session, the default one first, then by name. */
export function listProfiles(): SavedProfile[] {
  migrateLegacySession();
  let names: string[];
  try {
    names = fs
      .readdirSync(profilesDir())
      .filter((file) => file.endsWith('.json'))
      .map((file) => file.slice(0, -'.json'.length))
      .filter((name) => PROFILE_NAME.test(name));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    names = [];
  }
  if (!names.includes(activeProfile)) names.push(activeProfile);
  names.sort((a, b) => (a === DEFAULT_PROFILE ? -1 : b === DEFAULT_PROFILE ? 1 : a.localeCompare(b)));
  return names.map((name) => {
    try {
      return { name, current: name === activeProfile, session: readSession(name), damaged: false };
    } catch {
      return { name, current: name === activeProfile, session: undefined, damaged: true };
    }
  });
}
