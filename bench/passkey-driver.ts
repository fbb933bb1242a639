/**
 * The load for the passkey phase of `npm run bench`, in a process of its own so that its CPU is
 * counted apart from the server's. wrk cannot sign (its Lua has no ECDSA) and every challenge
 * comes from the server, so each sign-in is signed here, after its options arrive, by
 * bench/software-authenticator.ts. It is kept cheap: one plain HTTP/1.1 connection per simulated
 * person, written and parsed by hand, and one P-256 signature (about 50 µs) per sign-in.
 *
 * BENCH_TARGET=panel: latchkey's control panel, "Log In with a Passkey": POST /sign-in/with-passkey
 * (the options, in the page), then POST /sign-in/with-passkey/verify with the assertion; a
 * sign-in counts when it answers 303 with a session cookie. Each person is a user of
 * BENCH_USERS_FILE ("username password" lines) whose passkey is added first through the panel,
 * as a person would: password sign-in, nickname, the registration ceremony.
 * BENCH_TARGET=bare: bench/bare-passkey-server.ts, the same two steps as JSON.
 *
 * BENCH_ORIGIN is the origin the pages are at (http://localhost:<port>); connections go to
 * 127.0.0.1 at its port. BENCH_CONCURRENCY people sign in at once, each over and over. The parent
 * sends { seconds } for each slice and receives its figures; the process's own CPU time is among
 * them.
 */
import fs from 'node:fs';
import net from 'node:net';
import type {
  PublicKeyCredentialCreationOptionsJSON,
  PublicKeyCredentialRequestOptionsJSON,
} from '@simplewebauthn/server';
import { optionsInPage, SoftwareAuthenticator } from './software-authenticator.js';

const target = process.env.BENCH_TARGET === 'bare' ? 'bare' : 'panel';
const origin = new URL(process.env.BENCH_ORIGIN ?? '').origin;
const port = Number(new URL(origin).port);
const concurrency = Number(process.env.BENCH_CONCURRENCY ?? 8);
const BROWSER_ACCEPT = 'text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8';
/**
 * Sign-ins from one client address before the next: LATCHKEY_LOGIN_FAILURES_PER_SOURCE (100 per
 * 10 minutes by default) also bounds how many passwordless sign-ins one address may start, so
 * the load comes from many addresses, as real users' would, through X-Forwarded-For (the
 * server trusts 127.0.0.1 as its proxy). 198.18.0.0/15 is the range set aside for benchmarks.
 */
const SIGN_INS_PER_ADDRESS = 50;

interface Answer {
  status: number;
  headers: Map<string, string[]>;
  body: string;
}

/** One keep-alive HTTP/1.1 connection, one request at a time. */
class Connection {
  private socket: net.Socket | undefined;
  private chunks: Buffer[] = [];
  private waiting: { resolve(answer: Answer): void; reject(error: Error): void } | undefined;

  private open(): net.Socket {
    const socket = net.connect({ host: '127.0.0.1', port, noDelay: true });
    // A socket given up (reset) may still report; only the current one's events count.
    socket.on('data', (chunk: Buffer) => {
      if (socket !== this.socket) return;
      this.chunks.push(chunk);
      this.tryParse();
    });
    const fail = (error: Error) => {
      if (socket !== this.socket) return;
      this.socket = undefined;
      const waiting = this.waiting;
      this.waiting = undefined;
      waiting?.reject(error);
    };
    socket.on('error', fail);
    socket.on('close', () => fail(new Error('connection closed')));
    this.socket = socket;
    return socket;
  }

  /** Closes the connection; the next request opens another (the server closes idle ones). */
  reset(): void {
    this.socket?.destroy();
    this.socket = undefined;
  }

  request(method: string, path: string, headers: Record<string, string>, body = ''): Promise<Answer> {
    const socket = this.socket ?? this.open();
    this.chunks = [];
    const payload = Buffer.from(body);
    let head = `${method} ${path} HTTP/1.1\r\nhost: ${new URL(origin).host}\r\n`;
    for (const [name, value] of Object.entries(headers)) head += `${name}: ${value}\r\n`;
    if (method !== 'GET') head += `content-length: ${payload.length}\r\n`;
    return new Promise((resolve, reject) => {
      this.waiting = { resolve, reject };
      socket.write(method === 'GET' ? `${head}\r\n` : Buffer.concat([Buffer.from(`${head}\r\n`), payload]));
    });
  }

  private tryParse(): void {
    const data = this.chunks.length === 1 ? (this.chunks[0] as Buffer) : Buffer.concat(this.chunks);
    this.chunks = [data];
    const end = data.indexOf('\r\n\r\n');
    if (end < 0) return;
    const lines = data.subarray(0, end).toString('latin1').split('\r\n');
    const status = Number(lines[0]?.split(' ')[1]);
    const headers = new Map<string, string[]>();
    for (const line of lines.slice(1)) {
      const colon = line.indexOf(':');
      const name = line.slice(0, colon).toLowerCase();
      headers.set(name, [...(headers.get(name) ?? []), line.slice(colon + 1).trim()]);
    }
    let body: Buffer;
    if (headers.get('transfer-encoding')?.[0] === 'chunked') {
      const parts: Buffer[] = [];
      let at = end + 4;
      for (;;) {
        const lineEnd = data.indexOf('\r\n', at);
        if (lineEnd < 0) return;
        const size = Number.parseInt(data.subarray(at, lineEnd).toString('latin1'), 16);
        if (data.length < lineEnd + 2 + size + 2) return;
        if (size === 0) break;
        parts.push(data.subarray(lineEnd + 2, lineEnd + 2 + size));
        at = lineEnd + 2 + size + 2;
      }
      body = Buffer.concat(parts);
    } else {
      const length = Number(headers.get('content-length')?.[0] ?? 0);
      if (data.length < end + 4 + length) return;
      body = data.subarray(end + 4, end + 4 + length);
    }
    this.chunks = [];
    const waiting = this.waiting;
    this.waiting = undefined;
    waiting?.resolve({ status, headers, body: body.toString('utf8') });
  }
}

const csrfInPage = (html: string): string => /name="_csrf" value="([^"]+)"/.exec(html)?.[1] ?? '';
const form = (fields: Record<string, string>): string => new URLSearchParams(fields).toString();

let signIns = 0;
function nextAddress(): string {
  const n = Math.floor(signIns++ / SIGN_INS_PER_ADDRESS) + 1;
  return `198.${18 + ((n >> 16) & 1)}.${(n >> 8) & 255}.${n & 255}`;
}

/** One person: a connection, an authenticator holding one passkey, and a browser's cookies. */
class Person {
  readonly connection = new Connection();
  readonly authenticator = new SoftwareAuthenticator({ origin });
  readonly cookies = new Map<string, string>();
  csrfToken = '';

  private cookieHeader(): string {
    return [...this.cookies].map(([name, value]) => `${name}=${value}`).join('; ');
  }

  /** A page request as the browser sends it; cookies and the page's CSRF token are kept. */
  async page(method: 'GET' | 'POST', path: string, fields: Record<string, string> = {}): Promise<Answer> {
    const headers: Record<string, string> = { accept: BROWSER_ACCEPT, cookie: this.cookieHeader() };
    let body = '';
    if (method === 'POST') {
      Object.assign(headers, { 'content-type': 'application/x-www-form-urlencoded', origin });
      body = form({ _csrf: this.csrfToken, ...fields });
    }
    const answer = await this.connection.request(method, path, headers, body);
    for (const line of answer.headers.get('set-cookie') ?? []) {
      const pair = line.split(';')[0] ?? '';
      const name = pair.slice(0, pair.indexOf('='));
      const value = pair.slice(pair.indexOf('=') + 1);
      if (value === '' || /Max-Age=0|Expires=Thu, 01 Jan 1970/i.test(line)) this.cookies.delete(name);
      else this.cookies.set(name, value);
    }
    this.csrfToken = csrfInPage(answer.body) || this.csrfToken;
    return answer;
  }

  /** Adds the passkey through the panel: password sign-in, nickname, registration ceremony. */
  async registerInPanel(username: string, password: string): Promise<void> {
    await this.page('GET', '/sign-in');
    const signedIn = await this.page('POST', '/sign-in', { username, password });
    if (signedIn.status !== 303) throw new Error(`sign-in of ${username}: ${signedIn.status}`);
    await this.page('GET', '/profile/passkeys/new');
    const prompt = await this.page('POST', '/profile/passkeys/new', { nickname: 'Bench passkey' });
    if (prompt.status !== 200) throw new Error(`passkey options for ${username}: ${prompt.status}`);
    const response = this.authenticator.create(
      optionsInPage<PublicKeyCredentialCreationOptionsJSON>(prompt.body),
    );
    const added = await this.page('POST', '/profile/passkeys', { response: JSON.stringify(response) });
    if (added.status !== 303 || added.headers.get('location')?.[0] !== '/sign-in')
      throw new Error(`passkey of ${username}: ${added.status} ${added.headers.get('location')}`);
    // Signed out now (multi-factor turned on): the sign-in page's CSRF secret and token are the
    // ones every later sign-in posts with. A real browser would have a new pair after each
    // sign-in; reusing this one spares a page load the sign-in does not need.
    this.cookies.clear();
    await this.page('GET', '/sign-in');
    if (!this.cookies.has('lk_csrf')) throw new Error('no CSRF cookie on the sign-in page');
  }

  async registerBare(): Promise<void> {
    const json = { 'content-type': 'application/json' };
    const options = await this.connection.request('POST', '/register/options', json, '{}');
    const response = this.authenticator.create(
      JSON.parse(options.body) as PublicKeyCredentialCreationOptionsJSON,
    );
    const added = await this.connection.request('POST', '/register', json, JSON.stringify(response));
    if (added.status !== 200) throw new Error(`bare registration: ${added.status} ${added.body}`);
  }

  /** One passwordless sign-in: true when it ends signed in. */
  async signIn(): Promise<boolean> {
    const forwarded = { 'x-forwarded-for': nextAddress() };
    if (target === 'bare') {
      const json = { 'content-type': 'application/json', ...forwarded };
      const options = await this.connection.request('POST', '/options', json, '{}');
      if (options.status !== 200) return false;
      const assertion = this.authenticator.get(
        JSON.parse(options.body) as PublicKeyCredentialRequestOptionsJSON,
      );
      const verified = await this.connection.request('POST', '/verify', json, JSON.stringify(assertion));
      return verified.status === 200;
    }
    const headers = {
      accept: BROWSER_ACCEPT,
      cookie: this.cookieHeader(),
      'content-type': 'application/x-www-form-urlencoded',
      origin,
      ...forwarded,
    };
    const prompt = await this.connection.request(
      'POST',
      '/sign-in/with-passkey',
      headers,
      form({ _csrf: this.csrfToken }),
    );
    if (prompt.status !== 200) return false;
    const assertion = this.authenticator.get(
      optionsInPage<PublicKeyCredentialRequestOptionsJSON>(prompt.body),
    );
    const verified = await this.connection.request(
      'POST',
      '/sign-in/with-passkey/verify',
      headers,
      form({ _csrf: this.csrfToken, response: JSON.stringify(assertion) }),
    );
    return (
      verified.status === 303 &&
      (verified.headers.get('set-cookie') ?? []).some((line) => /^lk_session=[^;]/.test(line))
    );
  }
}

const people = Array.from({ length: concurrency }, () => new Person());

async function slice(seconds: number) {
  for (const person of people) person.connection.reset();
  const latencies: number[] = [];
  let failed = 0;
  const cpuBefore = process.cpuUsage();
  const started = performance.now();
  const deadline = started + seconds * 1000;
  await Promise.all(
    people.map(async (person) => {
      while (performance.now() < deadline) {
        const begun = performance.now();
        let ok = false;
        try {
          ok = await person.signIn();
        } catch {
          person.connection.reset();
        }
        if (ok) latencies.push(performance.now() - begun);
        else failed++;
      }
    }),
  );
  const elapsed = (performance.now() - started) / 1000;
  const cpu = process.cpuUsage(cpuBefore);
  latencies.sort((a, b) => a - b);
  const percentile = (p: number) =>
    latencies.length === 0 ? null : (latencies[Math.max(0, Math.ceil(latencies.length * p) - 1)] ?? null);
  return {
    operations: latencies.length,
    failed,
    seconds: elapsed,
    p50Ms: percentile(0.5),
    p99Ms: percentile(0.99),
    cpuSeconds: (cpu.user + cpu.system) / 1e6,
  };
}

try {
  if (target === 'panel') {
    const users = fs
      .readFileSync(process.env.BENCH_USERS_FILE ?? '', 'utf8')
      .split('\n')
      .filter((line) => line.trim() !== '')
      .map((line) => line.split(' ') as [string, string]);
    if (users.length < concurrency) throw new Error(`${concurrency} users needed, ${users.length} given`);
    await Promise.all(people.map((person, i) => person.registerInPanel(...(users[i] as [string, string]))));
  } else {
    await Promise.all(people.map((person) => person.registerBare()));
  }
  process.on('message', (message: { seconds: number }) => {
    void slice(message.seconds).then((result) => process.send?.(result));
  });
  process.on('disconnect', () => process.exit(0));
  // A clean exit, so that `node --cpu-prof` writes its profile.
  process.once('SIGTERM', () => process.exit(0));
  process.send?.({ ready: true });
} catch (error) {
  console.error(error);
  process.exit(1);
}
