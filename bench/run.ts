/**
 * npm run bench: loopback only, bounded. Load comes from wrk (a C program, far lighter than a
 * Node load generator, so the server keeps the CPU it needs on a small machine), driven by the
 * Lua scripts in bench/wrk/. Every figure is reported beside a ceiling measured in the same run:
 *   - token validation against a bare Fastify JSON route (measured first and last);
 *   - password login and the two-step OTP login against raw argon2id verifies with the server's
 *     library, parameters and number in flight.
 * The servers and the argon2 loop run in child processes: latchkey from its build (dist/), as
 * `npm start` runs it. Results go to bench/results.json and a table on stdout.
 *
 * Environment: BENCH_SECONDS (per phase, default 8), BENCH_PG_URL (a PostgreSQL server to
 * create a scratch database on; default postgres://postgres@127.0.0.1:5432/postgres, skipped
 * when unreachable), BENCH_PROFILE=DIR (write CPU profiles of the servers there),
 * BENCH_SKIP_BUILD=1.
 */
import { type ChildProcess, fork, spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { TOTP } from 'otpauth';
import pg from 'pg';

const ROOT = path.resolve(import.meta.dirname, '..');
const WRK_DIR = path.join(ROOT, 'bench/wrk');
const SECONDS = Number(process.env.BENCH_SECONDS ?? 8);
const WARM_UP_SECONDS = 2;
const PASSWORD = 'Benchpass1';
const SECRET_KEYS = `1:${Buffer.alloc(32, 9).toString('base64')}`;
/** Validation load: one wrk thread (it needs a fraction of a core), ten connections. */
const VALIDATION_CONNECTIONS = 10;
/**
 * Logins in flight: twice libuv's thread pool (4 threads, where argon2 runs), so the pool stays
 * full while some logins are between their argon2 work and their other steps. The raw argon2
 * ceiling keeps the same number of verifies in flight.
 */
const LOGIN_CONCURRENCY = 8;
const DISTINCT_TOKENS = 1000;
const TOKENS_PER_USER = 5;
const WRITES_PER_SECOND = 20;
const TARGETS = {
  oneTokenSqlite: 0.6,
  busyTokensSqlite: 0.5,
  postgres: 0.25,
  login: 0.85,
  p99Ms: 5,
  rssMb: 200,
  startMs: 1500,
};

const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'latchkey-bench-'));
const children: ChildProcess[] = [];
process.on('exit', () => {
  for (const child of children) child.kill('SIGKILL');
  fs.rmSync(scratch, { recursive: true, force: true });
});

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() =>
        typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port')),
      );
    });
  });
}

function start(
  script: string,
  args: string[],
  env: Record<string, string>,
  execArgv: string[],
): ChildProcess {
  const child = fork(path.join(ROOT, script), args, {
    cwd: ROOT,
    execArgv,
    env: { PATH: process.env.PATH ?? '', ...env },
    stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
  });
  children.push(child);
  return child;
}

/** Milliseconds until `url` answers 200. */
async function waitHealthy(url: string, since = performance.now()): Promise<number> {
  for (let attempt = 0; attempt < 1000; attempt++) {
    try {
      if ((await fetch(url)).ok) return performance.now() - since;
    } catch {
      // not yet listening
    }
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  throw new Error(`${url} did not come up`);
}

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return;
  await new Promise((resolve) => {
    child.once('exit', resolve);
    child.kill('SIGTERM');
  });
}

/** The largest resident set of a process while a phase runs, from /proc. */
function sampleRss(pid: number | undefined): () => number | null {
  let maxKb = 0;
  const read = () => {
    try {
      const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
      const kb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
      if (kb > maxKb) maxKb = kb;
    } catch {
      // the process is gone
    }
  };
  read();
  const timer = setInterval(read, 200);
  return () => {
    clearInterval(timer);
    read();
    return maxKb > 0 ? Math.round(maxKb / 102.4) / 10 : null;
  };
}

interface WrkResult {
  requests: number;
  seconds: number;
  requestsPerSecond: number;
  p50Ms: number;
  p99Ms: number;
  non2xx: number;
  socketErrors: number;
  counted: boolean;
  ok: number;
  failed: number;
  okPerSecond: number;
  operationP50Ms: number | null;
  operationP99Ms: number | null;
  exhausted: boolean;
}

async function wrk(options: {
  url: string;
  script: string;
  seconds: number;
  threads: number;
  connections: number;
  env?: Record<string, string>;
}): Promise<WrkResult> {
  const args = [
    `-t${options.threads}`,
    `-c${options.connections}`,
    `-d${options.seconds}s`,
    '--timeout',
    '10s',
    '-s',
    path.join(WRK_DIR, options.script),
    options.url,
  ];
  const child = spawn('wrk', args, {
    env: { ...process.env, BENCH_WRK_DIR: WRK_DIR, BENCH_THREADS: String(options.threads), ...options.env },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  children.push(child);
  let output = '';
  child.stdout?.on('data', (chunk: Buffer) => {
    output += chunk.toString();
  });
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
  const line = output.split('\n').find((candidate) => candidate.startsWith('BENCH_JSON '));
  if (code !== 0 || !line) throw new Error(`wrk ${args.join(' ')} failed (${code}):\n${output}`);
  return JSON.parse(line.slice('BENCH_JSON '.length)) as WrkResult;
}

const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });

interface ApiResponse {
  status: number;
  header(name: string): string | undefined;
  json: unknown;
}

async function api(
  base: string,
  method: string,
  url: string,
  body?: unknown,
  token?: string,
  headers: Record<string, string> = {},
): Promise<ApiResponse> {
  const payload = body === undefined ? undefined : JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const request = http.request(
      `${base}${url}`,
      {
        method,
        agent,
        headers: {
          ...(payload === undefined
            ? {}
            : { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) }),
          ...(token ? { 'x-auth-token': token } : {}),
          ...headers,
        },
      },
      (response) => {
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.on('end', () => {
          const text = Buffer.concat(chunks).toString();
          resolve({
            status: response.statusCode ?? 0,
            header: (name) => {
              const value = response.headers[name.toLowerCase()];
              return Array.isArray(value) ? value.join(', ') : value;
            },
            json: (text ? JSON.parse(text) : {}) as unknown,
          });
        });
        response.on('error', reject);
      },
    );
    request.on('error', reject);
    request.end(payload);
  });
}

/** Run `work` over `items`, `concurrency` at a time. */
async function inParallel<T, R>(
  items: T[],
  concurrency: number,
  work: (item: T) => Promise<R>,
): Promise<R[]> {
  const results: R[] = [];
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < items.length) {
        const index = next++;
        results[index] = await work(items[index] as T);
      }
    }),
  );
  return results;
}

const tokenOf = (response: ApiResponse, what: string): string => {
  if (response.status !== 200)
    throw new Error(`${what}: ${response.status} ${JSON.stringify(response.json)}`);
  return (response.json as { access: { token: { id: string } } }).access.token.id;
};

async function passwordToken(base: string, username: string): Promise<string> {
  const login = await api(base, 'POST', '/v2.0/tokens', {
    auth: { passwordCredentials: { username, password: PASSWORD } },
  });
  return tokenOf(login, `login ${username}`);
}

interface BenchUser {
  id: string;
  username: string;
  apiKey: string;
}

async function createUsers(
  base: string,
  adminToken: string,
  prefix: string,
  count: number,
): Promise<BenchUser[]> {
  return inParallel(
    Array.from({ length: count }, (_, i) => `${prefix}-${i}`),
    LOGIN_CONCURRENCY,
    async (username) => {
      const created = await api(
        base,
        'POST',
        '/v2.0/users',
        { user: { username, 'OS-KSADM:password': PASSWORD } },
        adminToken,
      );
      if (created.status !== 201) throw new Error(`create ${username}: ${created.status}`);
      const id = (created.json as { user: { id: string } }).user.id;
      const key = await api(
        base,
        'GET',
        `/v2.0/users/${id}/OS-KSADM/credentials/RAX-KSKEY:apiKeyCredentials`,
        undefined,
        adminToken,
      );
      const apiKey = (key.json as { 'RAX-KSKEY:apiKeyCredentials': { apiKey: string } })[
        'RAX-KSKEY:apiKeyCredentials'
      ].apiKey;
      return { id, username, apiKey };
    },
  );
}

async function apiKeyToken(base: string, user: BenchUser): Promise<string> {
  const login = await api(base, 'POST', '/v2.0/tokens', {
    auth: { 'RAX-KSKEY:apiKeyCredentials': { username: user.username, apiKey: user.apiKey } },
  });
  return tokenOf(login, `API-key login ${user.username}`);
}

/** API-key logins of other users at a steady rate, each writing a token and an event. */
function startWriter(base: string, users: BenchUser[]): () => Promise<{ ok: number; failed: number }> {
  let ok = 0;
  let failed = 0;
  let next = 0;
  const inFlight = new Set<Promise<void>>();
  const timer = setInterval(() => {
    const user = users[next++ % users.length];
    if (!user) return;
    const login = apiKeyToken(base, user).then(
      () => {
        ok++;
      },
      () => {
        failed++;
      },
    );
    inFlight.add(login);
    void login.finally(() => inFlight.delete(login));
  }, 1000 / WRITES_PER_SECOND);
  return async () => {
    clearInterval(timer);
    await Promise.all(inFlight);
    return { ok, failed };
  };
}

interface OtpUser {
  username: string;
  totp: TOTP;
}

/** Users with a verified authenticator and OTP MFA enabled; verification spends step t-1. */
async function createOtpUsers(
  base: string,
  adminToken: string,
  prefix: string,
  count: number,
): Promise<OtpUser[]> {
  const users = await createUsers(base, adminToken, prefix, count);
  return inParallel(users, LOGIN_CONCURRENCY, async (user) => {
    const token = await passwordToken(base, user.username);
    const device = await api(
      base,
      'POST',
      `/v2.0/users/${user.id}/RAX-AUTH/multi-factor/otp-devices`,
      { 'RAX-AUTH:otpDevice': { name: 'bench' } },
      token,
    );
    const otpDevice = (device.json as { 'RAX-AUTH:otpDevice': { id: string; keyUri: string } })[
      'RAX-AUTH:otpDevice'
    ];
    const secret = new URL(otpDevice.keyUri).searchParams.get('secret') ?? '';
    const totp = new TOTP({ secret, digits: 6, period: 30, algorithm: 'SHA1' });
    const step = Math.floor(Date.now() / 30_000);
    const verify = await api(
      base,
      'POST',
      `/v2.0/users/${user.id}/RAX-AUTH/multi-factor/otp-devices/${otpDevice.id}/verify`,
      { 'RAX-AUTH:verificationCode': { code: totp.generate({ timestamp: (step - 1) * 30_000 }) } },
      token,
    );
    if (verify.status !== 204) throw new Error(`verify ${user.username}: ${verify.status}`);
    const enable = await api(
      base,
      'PUT',
      `/v2.0/users/${user.id}/RAX-AUTH/multi-factor`,
      { 'RAX-AUTH:multiFactor': { enabled: true } },
      token,
    );
    if (enable.status !== 204) throw new Error(`enable ${user.username}: ${enable.status}`);
    return { username: user.username, totp };
  });
}

interface Phase {
  name: string;
  store: 'sqlite' | 'postgres' | null;
  perSecond: number;
  p50Ms: number | null;
  p99Ms: number | null;
  rssMb: number | null;
  errors: number;
  ceiling: 'bare route' | 'raw argon2id' | null;
  ratio: number | null;
  target: number | null;
  note?: string;
}

function writeFile(name: string, lines: string[]): string {
  const file = path.join(scratch, name);
  fs.writeFileSync(file, `${lines.join('\n')}\n`);
  return file;
}

/** Three validation phases against a running server: one token, 1,000, 1,000 under writes. */
async function validationPhases(
  base: string,
  server: ChildProcess,
  store: 'sqlite' | 'postgres',
  adminToken: string,
): Promise<Phase[]> {
  const users = await createUsers(
    base,
    adminToken,
    `bench-${store}-token`,
    DISTINCT_TOKENS / TOKENS_PER_USER,
  );
  const tokens = (
    await inParallel(users, LOGIN_CONCURRENCY, (user) =>
      Promise.all(Array.from({ length: TOKENS_PER_USER }, () => apiKeyToken(base, user))),
    )
  ).flat();
  const writers = await createUsers(base, adminToken, `bench-${store}-writer`, WRITES_PER_SECOND);
  const oneToken = writeFile(`${store}-one-token.txt`, [tokens[0] ?? '']);
  const manyTokens = writeFile(`${store}-tokens.txt`, tokens);
  const phases: Phase[] = [];
  const run = async (name: string, file: string, withWriter: boolean): Promise<void> => {
    const load = { url: base, script: 'validate.lua', threads: 1, connections: VALIDATION_CONNECTIONS };
    await wrk({ ...load, seconds: WARM_UP_SECONDS, env: { BENCH_TOKENS_FILE: file } });
    const rss = sampleRss(server.pid);
    const stopWriter = withWriter ? startWriter(base, writers) : undefined;
    const result = await wrk({ ...load, seconds: SECONDS, env: { BENCH_TOKENS_FILE: file } });
    const written = await stopWriter?.();
    phases.push({
      name,
      store,
      perSecond: result.requestsPerSecond,
      p50Ms: result.p50Ms,
      p99Ms: result.p99Ms,
      rssMb: rss(),
      errors: result.non2xx + result.socketErrors + (written?.failed ?? 0),
      ceiling: 'bare route',
      ratio: null,
      target:
        store === 'postgres'
          ? TARGETS.postgres
          : name.startsWith('one token')
            ? TARGETS.oneTokenSqlite
            : withWriter
              ? TARGETS.busyTokensSqlite
              : null,
      ...(written ? { note: `${(written.ok / SECONDS).toFixed(1)} API-key logins/s written meanwhile` } : {}),
    });
  };
  await run('validation, one token', oneToken, false);
  await run(`validation, ${tokens.length} tokens`, manyTokens, false);
  await run(`validation, ${tokens.length} tokens + ${WRITES_PER_SECOND} logins/s`, manyTokens, true);
  return phases;
}

function serverEnv(port: number, dataDir: string, databaseUrl?: string): Record<string, string> {
  return {
    LATCHKEY_PORT: String(port),
    LATCHKEY_DATA_DIR: dataDir,
    LATCHKEY_LOG_LEVEL: 'warn',
    LATCHKEY_SECRET_KEYS: SECRET_KEYS,
    LATCHKEY_BOOTSTRAP_ADMIN_USERNAME: 'bench-admin',
    LATCHKEY_BOOTSTRAP_ADMIN_PASSWORD: PASSWORD,
    ...(databaseUrl ? { LATCHKEY_DATABASE_URL: databaseUrl } : {}),
  };
}

function serverExecArgv(name: string): string[] {
  const dir = process.env.BENCH_PROFILE;
  if (!dir) return [];
  fs.mkdirSync(dir, { recursive: true });
  return ['--cpu-prof', `--cpu-prof-dir=${path.resolve(dir)}`, `--cpu-prof-name=${name}.cpuprofile`];
}

async function bareRoute(): Promise<Phase> {
  const port = await freePort();
  const bare = start('bench/bare-server.ts', [], { PORT: String(port) }, ['--import', 'tsx']);
  await waitHealthy(`http://127.0.0.1:${port}/`);
  const load = {
    url: `http://127.0.0.1:${port}/`,
    script: 'report.lua',
    threads: 1,
    connections: VALIDATION_CONNECTIONS,
  };
  await wrk({ ...load, seconds: WARM_UP_SECONDS });
  const rss = sampleRss(bare.pid);
  const result = await wrk({ ...load, seconds: SECONDS });
  const rssMb = rss();
  await stop(bare);
  return {
    name: 'bare Fastify JSON route',
    store: null,
    perSecond: result.requestsPerSecond,
    p50Ms: result.p50Ms,
    p99Ms: result.p99Ms,
    rssMb,
    errors: result.non2xx + result.socketErrors,
    ceiling: null,
    ratio: null,
    target: null,
  };
}

async function rawArgon2(): Promise<number> {
  const child = start(
    'bench/argon2-loop.ts',
    [],
    { CONCURRENCY: String(LOGIN_CONCURRENCY), SECONDS: String(SECONDS) },
    ['--import', 'tsx'],
  );
  const result = await new Promise<{ perSecond: number }>((resolve, reject) => {
    child.once('message', (message) => resolve(message as { perSecond: number }));
    child.once('exit', (code) => reject(new Error(`argon2 loop exited ${code}`)));
  });
  await stop(child);
  return result.perSecond;
}

async function postgresDatabase(): Promise<{ url: string; drop(): Promise<void> } | undefined> {
  const adminUrl = process.env.BENCH_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
  const name = `latchkey_bench_${randomBytes(4).toString('hex')}`;
  const client = new pg.Client({ connectionString: adminUrl, connectionTimeoutMillis: 2000 });
  try {
    await client.connect();
    await client.query(`create database ${name}`);
  } catch (error) {
    console.error(`PostgreSQL unreachable (${(error as Error).message}): skipping its phases`);
    return undefined;
  } finally {
    await client.end().catch(() => undefined);
  }
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    drop: async () => {
      const dropper = new pg.Client({ connectionString: adminUrl });
      await dropper.connect();
      await dropper.query(`drop database if exists ${name}`);
      await dropper.end();
    },
  };
}

async function main(): Promise<void> {
  if (process.env.BENCH_SKIP_BUILD !== '1') {
    const build = spawnSync('npx', ['tsc', '-p', 'tsconfig.build.json'], { cwd: ROOT, stdio: 'inherit' });
    if (build.status !== 0) throw new Error('build failed');
  }
  const loadBefore = os.loadavg();
  const bareFirst = await bareRoute();
  const phases: Phase[] = [];

  // latchkey with its defaults: embedded SQLite, OWASP argon2id, logging at warn.
  const sqlitePort = await freePort();
  const sqliteBase = `http://127.0.0.1:${sqlitePort}`;
  const started = performance.now();
  const sqliteServer = start(
    'dist/src/cli/main.js',
    ['serve'],
    serverEnv(sqlitePort, path.join(scratch, 'sqlite')),
    serverExecArgv('sqlite'),
  );
  const startToHealthyMs = await waitHealthy(`${sqliteBase}/health`, started);
  const sqliteAdmin = await passwordToken(sqliteBase, 'bench-admin');
  phases.push(...(await validationPhases(sqliteBase, sqliteServer, 'sqlite', sqliteAdmin)));

  const loginUsers = await createUsers(sqliteBase, sqliteAdmin, 'bench-login', LOGIN_CONCURRENCY);
  const loginFile = writeFile(
    'login-users.txt',
    loginUsers.map((user) => `${user.username} ${PASSWORD}`),
  );
  const loginLoad = { url: sqliteBase, threads: 1, connections: LOGIN_CONCURRENCY };
  await wrk({
    ...loginLoad,
    script: 'password-login.lua',
    seconds: WARM_UP_SECONDS,
    env: { BENCH_USERS_FILE: loginFile },
  });
  let rss = sampleRss(sqliteServer.pid);
  const login = await wrk({
    ...loginLoad,
    script: 'password-login.lua',
    seconds: SECONDS,
    env: { BENCH_USERS_FILE: loginFile },
  });
  phases.push({
    name: 'password login',
    store: 'sqlite',
    perSecond: login.okPerSecond,
    p50Ms: login.p50Ms,
    p99Ms: login.p99Ms,
    rssMb: rss(),
    errors: login.failed + login.socketErrors,
    ceiling: 'raw argon2id',
    ratio: null,
    target: TARGETS.login,
  });

  // Each OTP user has codes for two time steps (the current one and the next), which both stay
  // acceptable for the whole phase: so two logins per user, with a margin.
  const otpCount = Math.min(3000, Math.ceil(((login.okPerSecond * (SECONDS + 1)) / 2) * 1.3) + 16);
  const otpUsers = await createOtpUsers(sqliteBase, sqliteAdmin, 'bench-otp', otpCount);
  const step = Math.floor(Date.now() / 30_000);
  const otpFile = writeFile(
    'otp-users.txt',
    otpUsers.map(
      (user) =>
        `${user.username} ${PASSWORD} ${user.totp.generate({ timestamp: step * 30_000 })} ${user.totp.generate({ timestamp: (step + 1) * 30_000 })}`,
    ),
  );
  rss = sampleRss(sqliteServer.pid);
  const otp = await wrk({
    url: sqliteBase,
    script: 'otp-login.lua',
    seconds: SECONDS,
    threads: LOGIN_CONCURRENCY,
    connections: LOGIN_CONCURRENCY,
    env: { BENCH_USERS_FILE: otpFile },
  });
  phases.push({
    name: 'two-step OTP login (2 requests)',
    store: 'sqlite',
    perSecond: otp.okPerSecond,
    p50Ms: otp.operationP50Ms,
    p99Ms: otp.operationP99Ms,
    rssMb: rss(),
    errors: otp.failed + otp.socketErrors,
    ceiling: 'raw argon2id',
    ratio: null,
    target: TARGETS.login,
    note: `${otpUsers.length} OTP users${otp.exhausted ? '; ran out of fresh codes' : ''}`,
  });
  await stop(sqliteServer);

  const database = await postgresDatabase();
  if (database) {
    try {
      const port = await freePort();
      const base = `http://127.0.0.1:${port}`;
      const server = start(
        'dist/src/cli/main.js',
        ['serve'],
        serverEnv(port, path.join(scratch, 'postgres'), database.url),
        serverExecArgv('postgres'),
      );
      await waitHealthy(`${base}/health`);
      phases.push(
        ...(await validationPhases(base, server, 'postgres', await passwordToken(base, 'bench-admin'))),
      );
      await stop(server);
    } finally {
      await database.drop();
    }
  }

  const argon2PerSecond = await rawArgon2();
  const bareLast = await bareRoute();
  const barePerSecond = (bareFirst.perSecond + bareLast.perSecond) / 2;
  const round = (value: number, digits = 3) => Math.round(value * 10 ** digits) / 10 ** digits;
  for (const phase of phases) {
    const ceiling = phase.ceiling === 'bare route' ? barePerSecond : argon2PerSecond;
    phase.ratio = round(phase.perSecond / ceiling);
  }

  const results = {
    date: new Date().toISOString(),
    secondsPerPhase: SECONDS,
    machine: {
      cpus: os.cpus().length,
      node: process.version,
      loadAverageBefore: loadBefore.map((value) => round(value, 2)),
      loadAverageAfter: os.loadavg().map((value) => round(value, 2)),
    },
    load: {
      generator: 'wrk',
      validation: { threads: 1, connections: VALIDATION_CONNECTIONS },
      logins: { connections: LOGIN_CONCURRENCY },
    },
    ceilings: {
      bareRoute: { perSecond: round(barePerSecond, 1), first: bareFirst, last: bareLast },
      rawArgon2: {
        perSecond: round(argon2PerSecond, 1),
        library: '@node-rs/argon2',
        inFlight: LOGIN_CONCURRENCY,
        memoryKib: 19456,
        iterations: 2,
        parallelism: 1,
      },
    },
    startToHealthyMs: Math.round(startToHealthyMs),
    targets: TARGETS,
    phases: phases.map((phase) => ({
      ...phase,
      perSecond: round(phase.perSecond, 1),
      p50Ms: phase.p50Ms === null ? null : round(phase.p50Ms, 2),
      p99Ms: phase.p99Ms === null ? null : round(phase.p99Ms, 2),
    })),
  };
  fs.writeFileSync(path.join(ROOT, 'bench/results.json'), `${JSON.stringify(results, null, 2)}\n`);

  const cell = (value: number | null, digits: number) => (value === null ? '-' : value.toFixed(digits));
  const verdict = (phase: Phase): string => {
    const misses: string[] = [];
    if (phase.target !== null && phase.ratio !== null && phase.ratio < phase.target)
      misses.push(`ratio < ${phase.target}`);
    if (phase.ceiling === 'bare route' && phase.p99Ms !== null && phase.p99Ms > TARGETS.p99Ms)
      misses.push(`p99 > ${TARGETS.p99Ms} ms`);
    if (phase.rssMb !== null && phase.rssMb > TARGETS.rssMb) misses.push(`RSS > ${TARGETS.rssMb} MB`);
    return misses.length > 0
      ? `MISSED: ${misses.join(', ')}`
      : phase.target === null
        ? '-'
        : `≥ ${phase.target} met`;
  };
  console.log('| phase | store | per s | p50 ms | p99 ms | RSS MB | ratio | target |');
  console.log('|---|---|---:|---:|---:|---:|---:|---|');
  for (const ceiling of [bareFirst, bareLast]) {
    console.log(
      `| ${ceiling.name} | - | ${ceiling.perSecond.toFixed(0)} | ${cell(ceiling.p50Ms, 2)} | ${cell(ceiling.p99Ms, 2)} | ${cell(ceiling.rssMb, 1)} | - | ceiling |`,
    );
  }
  console.log(
    `| raw argon2id verify (${LOGIN_CONCURRENCY} in flight) | - | ${argon2PerSecond.toFixed(1)} | - | - | - | - | ceiling |`,
  );
  for (const phase of results.phases) {
    console.log(
      `| ${phase.name} | ${phase.store} | ${phase.perSecond.toFixed(phase.perSecond > 1000 ? 0 : 1)} | ${cell(phase.p50Ms, 2)} | ${cell(phase.p99Ms, 2)} | ${cell(phase.rssMb, 1)} | ${cell(phase.ratio, 3)} | ${verdict(phase)} |`,
    );
  }
  console.log(
    `start to healthy (SQLite): ${results.startToHealthyMs} ms (target ≤ ${TARGETS.startMs} ms)${results.startToHealthyMs > TARGETS.startMs ? ' MISSED' : ''}`,
  );
  for (const phase of phases) {
    if (phase.errors > 0)
      console.log(`${phase.name} (${phase.store}): ${phase.errors} errors or unexpected answers`);
    if (phase.note) console.log(`${phase.name} (${phase.store}): ${phase.note}`);
  }
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    console.error(error);
    process.exit(1);
  },
);
