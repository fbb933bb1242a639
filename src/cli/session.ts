import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { AccessResponse, AuthMethod, TokenScope } from '../http/v2/wire.js';
import { notLoggedIn, usageError } from './failure.js';

/** What `latchkey login` keeps between commands: one server, one token. */
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

export const sessionFile = (): string => path.join(configDir(), 'session.json');

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

export function readSession(): Session | undefined {
  let text: string;
  try {
    text = fs.readFileSync(sessionFile(), 'utf8');
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
  throw notLoggedIn(`the token cache ${sessionFile()} is damaged: run 'latchkey login' again`);
}

/**
 * The token is a bearer secret: the directory is the user's alone and the file is written 0600
 * before it holds anything, then renamed into place so a reader never sees half a file.
 */
export function writeSession(session: Session): void {
  const dir = configDir();
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
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
  if (!session) throw notLoggedIn("not logged in: run 'latchkey login' first");
  const named = urlFlag ?? (process.env.LATCHKEY_URL || undefined);
  const wanted = named === undefined ? undefined : normaliseUrl(named);
  if (wanted !== undefined && wanted !== session.url) {
    throw notLoggedIn(`logged in to ${session.url}, not ${wanted}: run 'latchkey login --url ${wanted}'`);
  }
  if (isExpired(session)) {
    throw notLoggedIn(`your token expired at ${session.expires}: run 'latchkey login' again`);
  }
  return session;
}
