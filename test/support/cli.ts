import { type ChildProcess, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { secretOf, totpAt } from './mfa.js';
import { buildRoot, builtBin, childEnv, collectOutput, freePort, ROOT, untilHealthy } from './process.js';
import { callServer } from './remote.js';

/**
 * The `latchkey` command as users run it: the compiled bin as a child process, against a real
 * server process (the same bin's `serve`), on a pseudo-terminal when a test types at prompts.
 */
export { builtBin, freePort, ROOT };

/** Compile once per test file when the repository's dist/ is older than the sources (support/process.ts). */
export function ensureBuilt(): void {
  buildRoot();
}

export interface ServerProcess {
  url: string;
  dataDir: string;
  outbox: string;
  log: string[];
  stop(): Promise<void>;
}

export const ADMIN = { username: 'root', password: 'Rootpass1' };

export async function startServer(env: Record<string, string> = {}): Promise<ServerProcess> {
  ensureBuilt();
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'latchkey-cli-server-'));
  const outbox = path.join(dataDir, 'sms-outbox.jsonl');
  const port = await freePort();
  const child = spawn(process.execPath, [builtBin(), 'serve'], {
    cwd: ROOT,
    env: childEnv({
      LATCHKEY_PORT: String(port),
      LATCHKEY_DATA_DIR: dataDir,
      LATCHKEY_SMS_OUTBOX: outbox,
      LATCHKEY_SECRET_KEYS: `1:${Buffer.alloc(32, 9).toString('base64')}`,
      LATCHKEY_ARGON2_MEMORY_KIB: '1024',
      LATCHKEY_ARGON2_ITERATIONS: '1',
      LATCHKEY_LOG_LEVEL: 'warn',
      LATCHKEY_BOOTSTRAP_ADMIN_USERNAME: ADMIN.username,
      LATCHKEY_BOOTSTRAP_ADMIN_PASSWORD: ADMIN.password,
      ...env,
    }),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const log = collectOutput(child);
  const url = `http://127.0.0.1:${port}`;
  const stop = async () => {
    if (child.exitCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGTERM');
    await exited;
    fs.rmSync(dataDir, { recursive: true, force: true });
  };
  try {
    await untilHealthy(url, child, log);
  } catch (error) {
    await stop();
    throw error;
  }
  return { url, dataDir, outbox, log, stop };
}

/** A fresh config directory: each simulated user has its own token cache. */
export function newHome(): { env: Record<string, string>; configDir: string; cleanup(): void } {
  const home = fs.mkdtempSync(path.join(os.tmpdir(), 'latchkey-cli-home-'));
  return {
    env: { HOME: home, XDG_CONFIG_HOME: path.join(home, '.config') },
    configDir: path.join(home, '.config', 'latchkey'),
    cleanup: () => fs.rmSync(home, { recursive: true, force: true }),
  };
}

export interface Run {
  status: number | null;
  stdout: string;
  stderr: string;
}

/**
 * The CLI with pipes and no controlling terminal (its own session, as under cron or CI): what a
 * script sees, even when the tests themselves run in a terminal.
 */
export function runCli(args: string[], env: Record<string, string>, input?: string): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [builtBin(), ...args], {
      cwd: ROOT,
      env: childEnv(env),
      stdio: ['pipe', 'pipe', 'pipe'],
      detached: true,
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
    });
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    child.on('error', reject);
    child.on('close', (status) => resolve({ status, stdout, stderr }));
    child.stdin.end(input ?? '');
  });
}

const shellQuote = (value: string) => `'${value.replaceAll("'", `'\\''`)}'`;

// biome-ignore lint/suspicious/noControlCharactersInRegex: terminal escape sequences
const ESCAPES = /\x1b\[[0-9;?]*[A-Za-z]|\x1b[()][A-Z0-9]|\r/g;
export const plain = (text: string): string => text.replace(ESCAPES, '');

export interface Terminal {
  /** Everything the terminal showed so far, escape sequences included. */
  readonly screen: string;
  /** Wait until the screen (without escape sequences) matches, and return the match. */
  expect(pattern: RegExp, timeoutMs?: number): Promise<RegExpMatchArray>;
  type(text: string): void;
  exit: Promise<number | null>;
}

/**
 * The CLI on a pseudo-terminal, through util-linux `script`: stdin, stdout and stderr are a TTY,
 * as when a person runs it. `script -e` exits with the command's own status.
 */
export function terminal(args: string[], env: Record<string, string>, pipedIn?: string): Terminal {
  const cli = [process.execPath, builtBin(), ...args].map(shellQuote).join(' ');
  // With pipedIn, standard input is a pipe carrying that line while the terminal stays the
  // session's controlling terminal: `printf pw | latchkey login --password-stdin` typed by a person.
  const command = pipedIn === undefined ? cli : `printf '%s\\n' ${shellQuote(pipedIn)} | ${cli}`;
  const child: ChildProcess = spawn('script', ['-qfec', command, '/dev/null'], {
    cwd: ROOT,
    env: childEnv({ TERM: 'xterm', ...env }),
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let screen = '';
  const waiters = new Set<() => void>();
  const onData = (chunk: Buffer) => {
    screen += chunk.toString();
    for (const waiter of waiters) waiter();
  };
  child.stdout?.on('data', onData);
  child.stderr?.on('data', onData);
  const exit = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
  return {
    get screen() {
      return screen;
    },
    expect(pattern, timeoutMs = 15_000) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const match = plain(screen).match(pattern);
          if (!match) return;
          waiters.delete(check);
          clearTimeout(timer);
          resolve(match);
        };
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(new Error(`terminal never showed ${pattern}; it shows:\n${plain(screen)}`));
        }, timeoutMs);
        waiters.add(check);
        check();
      });
    },
    type(text) {
      child.stdin?.write(text);
    },
    exit: exit.finally(() => child.stdin?.end()),
  };
}

type Json = Record<string, unknown>;

/** Plain HTTP, for setting the scene and checking results independently of the CLI. */
export async function api(
  url: string,
  method: string,
  route: string,
  options: { token?: string; body?: unknown; headers?: Record<string, string> } = {},
): Promise<{ status: number; headers: Headers; body: Json }> {
  const { status, headers, body } = await callServer<Json>(url, method, route, options);
  return { status, headers, body };
}

export async function passwordToken(url: string, username: string, password: string): Promise<string> {
  const answer = await api(url, 'POST', '/v2.0/tokens', {
    body: { auth: { passwordCredentials: { username, password } } },
  });
  const id = ((answer.body.access as Json | undefined)?.token as { id?: string } | undefined)?.id;
  if (!id) throw new Error(`login of ${username} failed: ${answer.status} ${JSON.stringify(answer.body)}`);
  return id;
}

/** Both steps of an MFA login over HTTP. */
export async function twoStepToken(
  url: string,
  username: string,
  password: string,
  passcode: string,
): Promise<string> {
  const first = await api(url, 'POST', '/v2.0/tokens', {
    body: { auth: { passwordCredentials: { username, password } } },
  });
  const sessionId = /sessionId='([^']+)'/.exec(first.headers.get('www-authenticate') ?? '')?.[1];
  if (!sessionId)
    throw new Error(`no challenge for ${username}: ${first.status} ${JSON.stringify(first.body)}`);
  const second = await api(url, 'POST', '/v2.0/tokens', {
    headers: { 'x-sessionid': sessionId },
    body: { auth: { 'RAX-AUTH:passcodeCredentials': { passcode } } },
  });
  const id = ((second.body.access as Json | undefined)?.token as { id?: string } | undefined)?.id;
  if (!id) throw new Error(`second step for ${username}: ${second.status} ${JSON.stringify(second.body)}`);
  return id;
}

/** A user created by `creator` over HTTP, with a known password. */
export async function createUser(
  url: string,
  creatorToken: string,
  username: string,
  password: string,
): Promise<{ id: string; username: string; password: string; domainId: string }> {
  const created = await api(url, 'POST', '/v2.0/users', {
    token: creatorToken,
    body: {
      user: { username, email: `${username}@example.com`, enabled: true, 'OS-KSADM:password': password },
    },
  });
  if (created.status !== 201)
    throw new Error(`create ${username}: ${created.status} ${JSON.stringify(created.body)}`);
  const user = created.body.user as { id: string; 'RAX-AUTH:domainId': string };
  return { id: user.id, username, password, domainId: user['RAX-AUTH:domainId'] };
}

/** The last SMS the outbox provider wrote to `to`. */
export function lastSms(outbox: string, to: string): string {
  const lines = fs.existsSync(outbox) ? fs.readFileSync(outbox, 'utf8').trim().split('\n') : [];
  const messages = lines.filter(Boolean).map((line) => JSON.parse(line) as { to: string; body: string });
  const found = messages.filter((message) => message.to === to).at(-1);
  if (!found) throw new Error(`no SMS to ${to} in ${outbox}`);
  return found.body;
}

/**
 * The test's authenticator app, for servers on the real clock. The server accepts a code once
 * per time step, within one step either side of its now, and the code travels a while before
 * the server checks it, maybe across a step boundary. So a code is of the current step or the
 * next (both still accepted after one boundary), or of the previous step only while at least
 * 10 s of the current one remain (a margin no loaded machine spends between here and the
 * check). Consecutive codes take consecutive steps; when none is left, wait for the boundary.
 */
export class Authenticator {
  private lastStep = -Infinity;
  constructor(readonly secret: string) {}

  async code(): Promise<string> {
    for (;;) {
      const nowMs = Date.now();
      const now = Math.floor(nowMs / 30_000);
      const previousIsSafe = (now + 1) * 30_000 - nowMs >= 10_000;
      const step = Math.max(this.lastStep + 1, previousIsSafe ? now - 1 : now);
      if (step <= now + 1) {
        this.lastStep = step;
        return totpAt(this.secret, step * 30_000);
      }
      await new Promise((resolve) => setTimeout(resolve, (now + 1) * 30_000 - nowMs + 10));
    }
  }
}

/** Add, verify and enable an authenticator over HTTP; also returns a batch of bypass codes. */
export async function enableOtp(
  url: string,
  user: { id: string; username: string; password: string },
  token: string,
): Promise<{ authenticator: Authenticator; bypassCodes: string[] }> {
  const base = `/v2.0/users/${user.id}/RAX-AUTH/multi-factor`;
  const added = await api(url, 'POST', `${base}/otp-devices`, {
    token,
    body: { 'RAX-AUTH:otpDevice': { name: 'test phone' } },
  });
  const device = added.body['RAX-AUTH:otpDevice'] as { id: string; keyUri: string };
  const authenticator = new Authenticator(secretOf(device.keyUri));
  const verified = await api(url, 'POST', `${base}/otp-devices/${device.id}/verify`, {
    token,
    body: { 'RAX-AUTH:verificationCode': { code: await authenticator.code() } },
  });
  if (verified.status !== 204) throw new Error(`verify: ${verified.status} ${JSON.stringify(verified.body)}`);
  const enabled = await api(url, 'PUT', base, { token, body: { 'RAX-AUTH:multiFactor': { enabled: true } } });
  if (enabled.status !== 204) throw new Error(`enable: ${enabled.status} ${JSON.stringify(enabled.body)}`);
  // Bypass codes need MFA on, and a token that passed it (the password token is revoked now).
  const mfa = await twoStepToken(url, user.username, user.password, await authenticator.code());
  const codes = await api(url, 'POST', `${base}/bypass-codes`, {
    token: mfa,
    body: { 'RAX-AUTH:bypassCodes': { numberOfCodes: 5 } },
  });
  const bypassCodes = (codes.body['RAX-AUTH:bypassCodes'] as { codes: string[] }).codes;
  return { authenticator, bypassCodes };
}
