/**
 * npm run bench: loopback only, bounded. Load comes from wrk (a C program, far lighter than a
 * Node load generator, so the server keeps the CPU it needs on a small machine), driven by the
 * Lua scripts in bench/wrk/. Every figure is reported beside a ceiling measured in the same run:
 *   - token validation against a bare Fastify JSON route;
 *   - password login and the two-step OTP login against raw argon2id verifies with the server's
 *     library, parameters and number in flight;
 *   - passwordless passkey sign-in in the panel against bare routes that run the same WebAuthn
 *     verification with the same library and nothing else. wrk cannot sign, so a light Node
 *     driver (bench/passkey-driver.ts, its CPU reported) signs each challenge with
 *     bench/software-authenticator.ts.
 * The servers and the argon2 loop run in child processes: latchkey from its build (dist/), as
 * `npm start` runs it. Results go to bench/results.json and a table on stdout.
 *
 * Ceilings move with whatever else runs on the machine, so each phase is measured right after
 * its own ceiling run and its ratio is taken against that run.
 *
 * Environment: BENCH_SECONDS (per phase, default 8), BENCH_PG_URL (a PostgreSQL server to
 * create a scratch database on; default postgres://postgres@127.0.0.1:5432/postgres, skipped
 * when unreachable), BENCH_STORES (default sqlite,postgres), BENCH_CONNECTIONS (validation
 * connections, default 10,32), BENCH_LOGINS=0 (skip the login
 * phases), BENCH_VALIDATION=0 (skip the validation phases), BENCH_PASSKEYS=0 (skip the passkey
 * phase), BENCH_PROFILE=DIR (write CPU profiles of the servers, and of the passkey drivers, there),
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
/** Each phase and its ceiling run in this many alternating slices (see `interleaved`). */
const ROUNDS = 4;
const SLICE_SECONDS = Math.max(1, Math.round(SECONDS / ROUNDS));
const WARM_UP_SECONDS = 2;
const PASSWORD = 'Benchpass1';
const SECRET_KEYS = `1:${Buffer.alloc(32, 9).toString('base64')}`;
/**
 * Validation load: one wrk thread (it needs a fraction of a core), at each of these numbers of
 * connections (BENCH_CONNECTIONS, default 10 and 32): few clients each waiting for its answer,
 * and many, which is where per-request costs show.
 */
const VALIDATION_CONNECTIONS = (process.env.BENCH_CONNECTIONS ?? '10,32')
  .split(',')
  .map((value) => Number(value.trim()))
  .filter((value) => Number.isInteger(value) && value > 0);
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
  passkey: 0.25,
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
    // Verify with the previous step's code, which leaves the current and the next one for the
    // logins; if the server's clock has just moved on to another step, try again.
    let verified = 0;
    for (let attempt = 0; attempt < 3 && verified !== 204; attempt++) {
      const step = Math.floor(Date.now() / 30_000);
      const verify = await api(
        base,
        'POST',
        `/v2.0/users/${user.id}/RAX-AUTH/multi-factor/otp-devices/${otpDevice.id}/verify`,
        { 'RAX-AUTH:verificationCode': { code: totp.generate({ timestamp: (step - 1) * 30_000 }) } },
        token,
      );
      verified = verify.status;
    }
    if (verified !== 204) throw new Error(`verify ${user.username}: ${verified}`);
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

/** One phase's figures, summed over its slices. */
interface Phase {
  name: string;
  store: 'sqlite' | 'postgres' | null;
  /** Successful operations (validations, logins) per second. */
  perSecond: number;
  /** Median over the slices of each slice's p50 and p99 (a login is timed from first to last request). */
  p50Ms: number | null;
  p99Ms: number | null;
  /** The worst slice's p99. */
  worstP99Ms: number | null;
  /** Largest resident set of the server while the phase ran. */
  rssMb: number | null;
  errors: number;
  ceiling: 'bare route' | 'raw argon2id' | 'bare WebAuthn routes' | null;
  /** The ceiling over the slices interleaved with this phase's, and its p99 (median of slices). */
  ceilingPerSecond: number | null;
  ceilingP99Ms: number | null;
  ratio: number | null;
  /** CPU time of the server (or of the ceiling's process) per operation, in microseconds. */
  cpuMicrosPerOperation: number | null;
  ceilingCpuMicrosPerOperation: number | null;
  /** Ceiling CPU per operation over this phase's: the throughput ratio a quiet machine would give. */
  cpuRatio: number | null;
  /** CPU per operation of the load generator, where it is a Node process (the passkey driver). */
  loadCpuMicrosPerOperation?: number | null;
  ceilingLoadCpuMicrosPerOperation?: number | null;
  target: number | null;
  note?: string;
}

interface Slice {
  operations: number;
  seconds: number;
  p50Ms: number | null;
  p99Ms: number | null;
  errors: number;
  /** CPU time the measured process (all its threads) spent during the slice. */
  cpuSeconds: number | null;
  /** CPU time of the load generator during the slice, where it measures its own. */
  loadCpuSeconds?: number;
}

/** User + system CPU seconds of a process and all its threads so far, from /proc (ticks of 1/100 s). */
function cpuSecondsOf(pid: number | undefined): number | null {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return null;
  }
}

/** Runs `slice` and adds the CPU time `pid` spent meanwhile. */
async function withCpu(pid: number | undefined, slice: () => Promise<Slice>): Promise<Slice> {
  const before = cpuSecondsOf(pid);
  const result = await slice();
  const after = cpuSecondsOf(pid);
  return { ...result, cpuSeconds: before === null || after === null ? null : after - before };
}

const median = (values: number[]): number | null => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted.length === 0 ? null : (sorted[Math.floor((sorted.length - 1) / 2)] ?? null);
};

/**
 * The machine is shared, so the load on it moves during a run. A phase and its ceiling are
 * therefore measured in alternating slices (ceiling, phase, ceiling, phase ...), and the ratio
 * is the phase's total over the ceiling's total: both saw the same weather.
 */
async function interleaved(
  ceilingSlice: (seconds: number) => Promise<Slice>,
  phaseSlice: (seconds: number, round: number) => Promise<Slice>,
  server: ChildProcess,
): Promise<{ ceiling: Slice[]; phase: Slice[]; rssMb: number | null }> {
  const ceiling: Slice[] = [];
  const phase: Slice[] = [];
  let rssMb: number | null = null;
  for (let round = 0; round < ROUNDS; round++) {
    ceiling.push(await ceilingSlice(SLICE_SECONDS));
    const rss = sampleRss(server.pid);
    phase.push(await withCpu(server.pid, () => phaseSlice(SLICE_SECONDS, round)));
    const sampled = rss();
    if (sampled !== null && (rssMb === null || sampled > rssMb)) rssMb = sampled;
  }
  return { ceiling, phase, rssMb };
}

function summarise(
  name: string,
  store: Phase['store'],
  ceilingName: Phase['ceiling'],
  run: { ceiling: Slice[]; phase: Slice[]; rssMb: number | null },
  target: number | null,
  note?: string,
): Phase {
  const rate = (slices: Slice[]) =>
    slices.reduce((sum, slice) => sum + slice.operations, 0) /
    slices.reduce((sum, slice) => sum + slice.seconds, 0);
  const perSecond = rate(run.phase);
  const ceilingPerSecond = rate(run.ceiling);
  const cpuPerOperation = (slices: Slice[]) => {
    if (slices.some((slice) => slice.cpuSeconds === null)) return null;
    const operations = slices.reduce((sum, slice) => sum + slice.operations, 0);
    return (slices.reduce((sum, slice) => sum + (slice.cpuSeconds ?? 0), 0) / operations) * 1e6;
  };
  const cpu = cpuPerOperation(run.phase);
  const ceilingCpu = cpuPerOperation(run.ceiling);
  const loadCpuPerOperation = (slices: Slice[]) => {
    if (slices.some((slice) => slice.loadCpuSeconds === undefined)) return undefined;
    const operations = slices.reduce((sum, slice) => sum + slice.operations, 0);
    return (slices.reduce((sum, slice) => sum + (slice.loadCpuSeconds ?? 0), 0) / operations) * 1e6;
  };
  const loadCpu = loadCpuPerOperation(run.phase);
  const ceilingLoadCpu = loadCpuPerOperation(run.ceiling);
  const p99s = run.phase.flatMap((slice) => (slice.p99Ms === null ? [] : [slice.p99Ms]));
  return {
    name,
    store,
    perSecond,
    p50Ms: median(run.phase.flatMap((slice) => (slice.p50Ms === null ? [] : [slice.p50Ms]))),
    p99Ms: median(p99s),
    worstP99Ms: p99s.length === 0 ? null : Math.max(...p99s),
    rssMb: run.rssMb,
    errors: run.phase.reduce((sum, slice) => sum + slice.errors, 0),
    ceiling: ceilingName,
    ceilingPerSecond,
    ceilingP99Ms: median(run.ceiling.flatMap((slice) => (slice.p99Ms === null ? [] : [slice.p99Ms]))),
    ratio: perSecond / ceilingPerSecond,
    cpuMicrosPerOperation: cpu,
    ceilingCpuMicrosPerOperation: ceilingCpu,
    cpuRatio: cpu === null || ceilingCpu === null ? null : ceilingCpu / cpu,
    ...(loadCpu === undefined ? {} : { loadCpuMicrosPerOperation: loadCpu }),
    ...(ceilingLoadCpu === undefined ? {} : { ceilingLoadCpuMicrosPerOperation: ceilingLoadCpu }),
    target,
    ...(note === undefined ? {} : { note }),
  };
}

const wrkSlice = (result: WrkResult): Slice => ({
  operations: result.counted ? result.ok : result.requests - result.non2xx,
  seconds: result.seconds,
  p50Ms: result.counted && result.operationP50Ms !== null ? result.operationP50Ms : result.p50Ms,
  p99Ms: result.counted && result.operationP99Ms !== null ? result.operationP99Ms : result.p99Ms,
  // Scripts that count their own outcomes expect some 4xx (step 1 of an MFA login is a 401).
  errors: result.counted ? result.failed + result.socketErrors : result.non2xx + result.socketErrors,
  cpuSeconds: null,
});

function writeFile(name: string, lines: string[]): string {
  const file = path.join(scratch, name);
  fs.writeFileSync(file, `${lines.join('\n')}\n`);
  return file;
}

/** The bare route's server, started once and warmed up; each call is one slice of load on it. */
type CeilingSlice = (seconds: number, connections: number) => Promise<Slice>;

async function startBareRoute(): Promise<{ slice: CeilingSlice; stop(): Promise<void> }> {
  const port = await freePort();
  const bare = start('bench/bare-server.ts', [], { PORT: String(port) }, ['--import', 'tsx']);
  await waitHealthy(`http://127.0.0.1:${port}/`);
  const load = { url: `http://127.0.0.1:${port}/`, script: 'report.lua', threads: 1 };
  await wrk({ ...load, connections: Math.max(...VALIDATION_CONNECTIONS), seconds: WARM_UP_SECONDS });
  return {
    slice: (seconds, connections) =>
      withCpu(bare.pid, async () => wrkSlice(await wrk({ ...load, connections, seconds }))),
    stop: () => stop(bare),
  };
}

/** Raw argon2id verifies for `seconds`, in a process of its own, as many in flight as logins. */
async function argon2Slice(seconds: number): Promise<Slice> {
  const child = start(
    'bench/argon2-loop.ts',
    [],
    { CONCURRENCY: String(LOGIN_CONCURRENCY), SECONDS: String(seconds) },
    ['--import', 'tsx'],
  );
  const result = await new Promise<{ count: number; seconds: number; cpuSeconds: number }>(
    (resolve, reject) => {
      child.once('message', (message) =>
        resolve(message as { count: number; seconds: number; cpuSeconds: number }),
      );
      child.once('exit', (code) => reject(new Error(`argon2 loop exited ${code}`)));
    },
  );
  await stop(child);
  return {
    operations: result.count,
    seconds: result.seconds,
    p50Ms: null,
    p99Ms: null,
    errors: 0,
    cpuSeconds: result.cpuSeconds,
  };
}

/** Three validation phases against a running server: one token, 1,000, 1,000 under writes. */
async function validationPhases(
  base: string,
  server: ChildProcess,
  store: 'sqlite' | 'postgres',
  adminToken: string,
  bare: CeilingSlice,
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
  const run = async (
    name: string,
    file: string,
    withWriter: boolean,
    target: number | null,
  ): Promise<void> => {
    for (const connections of VALIDATION_CONNECTIONS)
      await runWith(connections, name, file, withWriter, target);
  };
  const runWith = async (
    connections: number,
    name: string,
    file: string,
    withWriter: boolean,
    target: number | null,
  ): Promise<void> => {
    const load = {
      url: base,
      script: 'validate.lua',
      threads: 1,
      connections,
      env: { BENCH_TOKENS_FILE: file },
    };
    await wrk({ ...load, seconds: WARM_UP_SECONDS });
    let written = { ok: 0, failed: 0, seconds: 0 };
    const result = await interleaved(
      (seconds) => bare(seconds, connections),
      async (seconds) => {
        const stopWriter = withWriter ? startWriter(base, writers) : undefined;
        const slice = wrkSlice(await wrk({ ...load, seconds }));
        const done = await stopWriter?.();
        if (done)
          written = {
            ok: written.ok + done.ok,
            failed: written.failed + done.failed,
            seconds: written.seconds + slice.seconds,
          };
        return { ...slice, errors: slice.errors + (done?.failed ?? 0) };
      },
      server,
    );
    const note = withWriter
      ? `${(written.ok / written.seconds).toFixed(1)} API-key logins/s written meanwhile`
      : undefined;
    phases.push(summarise(`${name}, ${connections} connections`, store, 'bare route', result, target, note));
  };
  const postgres = store === 'postgres';
  await run('validation, one token', oneToken, false, postgres ? TARGETS.postgres : TARGETS.oneTokenSqlite);
  await run(`validation, ${tokens.length} tokens`, manyTokens, false, postgres ? TARGETS.postgres : null);
  await run(
    `validation, ${tokens.length} tokens + ${WRITES_PER_SECOND} logins/s`,
    manyTokens,
    true,
    postgres ? TARGETS.postgres : TARGETS.busyTokensSqlite,
  );
  return phases;
}

/** Password login, then the two-step OTP login, each interleaved with raw argon2id verifies. */
async function loginPhases(base: string, server: ChildProcess, admin: string): Promise<Phase[]> {
  const loginUsers = await createUsers(base, admin, 'bench-login', LOGIN_CONCURRENCY);
  const loginFile = writeFile(
    'login-users.txt',
    loginUsers.map((user) => `${user.username} ${PASSWORD}`),
  );
  const loginLoad = {
    url: base,
    script: 'password-login.lua',
    threads: 1,
    connections: LOGIN_CONCURRENCY,
    env: { BENCH_USERS_FILE: loginFile },
  };
  await wrk({ ...loginLoad, seconds: WARM_UP_SECONDS });
  const password = await interleaved(
    argon2Slice,
    async (seconds) => wrkSlice(await wrk({ ...loginLoad, seconds })),
    server,
  );
  const passwordPhase = summarise('password login', 'sqlite', 'raw argon2id', password, TARGETS.login);

  // Each OTP user can log in with the codes of two time steps, the current one and the next,
  // which both stay acceptable for a minute: so each slice gets its own users, two logins each,
  // with a margin, and the codes are computed right before the slice.
  const perSlice = Math.ceil(((passwordPhase.perSecond * SLICE_SECONDS) / 2) * 1.5) + 2 * LOGIN_CONCURRENCY;
  const otpUsers = await createOtpUsers(base, admin, 'bench-otp', Math.min(4000, perSlice * ROUNDS));
  let exhausted = false;
  const otp = await interleaved(
    argon2Slice,
    async (seconds, round) => {
      const step = Math.floor(Date.now() / 30_000);
      const code = (user: OtpUser, at: number) => user.totp.generate({ timestamp: at * 30_000 });
      const file = writeFile(
        `otp-users-${round}.txt`,
        otpUsers
          .slice(round * perSlice, (round + 1) * perSlice)
          .map((user) => `${user.username} ${PASSWORD} ${code(user, step)} ${code(user, step + 1)}`),
      );
      const result = await wrk({
        url: base,
        script: 'otp-login.lua',
        seconds,
        threads: LOGIN_CONCURRENCY,
        connections: LOGIN_CONCURRENCY,
        env: { BENCH_USERS_FILE: file },
      });
      exhausted ||= result.exhausted;
      return wrkSlice(result);
    },
    server,
  );
  return [
    passwordPhase,
    summarise(
      'two-step OTP login (2 requests)',
      'sqlite',
      'raw argon2id',
      otp,
      TARGETS.login,
      `${perSlice} OTP users per slice${exhausted ? '; some slice ran out of fresh codes' : ''}`,
    ),
  ];
}

/** A passkey driver (bench/passkey-driver.ts), its passkeys added; each call is one slice. */
async function startPasskeyDriver(
  target: 'panel' | 'bare',
  origin: string,
  usersFile?: string,
): Promise<{ slice(seconds: number): Promise<Slice>; stop(): Promise<void> }> {
  const driver = start(
    'bench/passkey-driver.ts',
    [],
    {
      BENCH_TARGET: target,
      BENCH_ORIGIN: origin,
      BENCH_CONCURRENCY: String(LOGIN_CONCURRENCY),
      ...(usersFile ? { BENCH_USERS_FILE: usersFile } : {}),
    },
    ['--import', 'tsx', ...serverExecArgv(`passkey-driver-${target}`)],
  );
  const next = () =>
    new Promise<unknown>((resolve, reject) => {
      const exited = (code: number | null) => reject(new Error(`passkey driver (${target}) exited ${code}`));
      driver.once('exit', exited);
      driver.once('message', (message) => {
        driver.off('exit', exited);
        resolve(message);
      });
    });
  await next();
  return {
    slice: async (seconds) => {
      const answer = next();
      driver.send({ seconds });
      const result = (await answer) as {
        operations: number;
        failed: number;
        seconds: number;
        p50Ms: number | null;
        p99Ms: number | null;
        cpuSeconds: number;
      };
      return {
        operations: result.operations,
        seconds: result.seconds,
        p50Ms: result.p50Ms,
        p99Ms: result.p99Ms,
        errors: result.failed,
        cpuSeconds: null,
        loadCpuSeconds: result.cpuSeconds,
      };
    },
    stop: () => stop(driver),
  };
}

/**
 * Passwordless passkey sign-in in the panel ("Log In with a Passkey": the options page, then
 * the assertion, answered with a session cookie), against bare routes that run the same
 * verification with @simplewebauthn/server. A server of its own, behind 127.0.0.1 as a trusted
 * proxy, so that the sign-ins can come from many client addresses (X-Forwarded-For): each
 * address may start only as many as LATCHKEY_LOGIN_FAILURES_PER_SOURCE in 10 minutes.
 */
async function passkeyPhase(): Promise<Phase> {
  const port = await freePort();
  const server = start(
    'dist/src/cli/main.js',
    ['serve'],
    { ...serverEnv(port, path.join(scratch, 'passkeys')), LATCHKEY_TRUSTED_PROXIES: '127.0.0.1' },
    serverExecArgv('passkeys'),
  );
  const base = `http://127.0.0.1:${port}`;
  await waitHealthy(`${base}/health`);
  const admin = await passwordToken(base, 'bench-admin');
  const users = await createUsers(base, admin, 'bench-passkey', LOGIN_CONCURRENCY);
  const usersFile = writeFile(
    'passkey-users.txt',
    users.map((user) => `${user.username} ${PASSWORD}`),
  );
  const barePort = await freePort();
  const bare = start('bench/bare-passkey-server.ts', [], { PORT: String(barePort) }, [
    '--import',
    'tsx',
    ...serverExecArgv('bare-passkeys'),
  ]);
  await waitHealthy(`http://127.0.0.1:${barePort}/`);
  // The relying party is the public URL's host (by default http://localhost:<port>), never an IP.
  const panel = await startPasskeyDriver('panel', `http://localhost:${port}`, usersFile);
  const ceiling = await startPasskeyDriver('bare', `http://localhost:${barePort}`);
  await ceiling.slice(WARM_UP_SECONDS);
  await panel.slice(WARM_UP_SECONDS);
  const result = await interleaved(
    (seconds) => withCpu(bare.pid, () => ceiling.slice(seconds)),
    (seconds) => panel.slice(seconds),
    server,
  );
  await Promise.all([panel.stop(), ceiling.stop(), stop(bare), stop(server)]);
  const phase = summarise(
    'passwordless passkey sign-in (2 requests)',
    'sqlite',
    'bare WebAuthn routes',
    result,
    TARGETS.passkey,
  );
  const load = phase.loadCpuMicrosPerOperation ?? 0;
  const ceilingLoad = phase.ceilingLoadCpuMicrosPerOperation ?? 0;
  const bounded =
    phase.ceilingCpuMicrosPerOperation !== null && ceilingLoad >= phase.ceilingCpuMicrosPerOperation
      ? '; the driver, not the bare routes, may have bounded the ceiling'
      : '';
  phase.note = `Node driver: ${load.toFixed(0)} µs CPU per sign-in against latchkey, ${ceilingLoad.toFixed(0)} against the bare routes${bounded}`;
  return phase;
}

function serverEnv(port: number, dataDir: string, databaseUrl?: string): Record<string, string> {
  return {
    LATCHKEY_PORT: String(port),
    LATCHKEY_DATA_DIR: dataDir,
    // The default level (info), as `npm start` runs: each request's access line is part of its cost.
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

let benchStarted = performance.now();

async function main(): Promise<void> {
  const stores = (process.env.BENCH_STORES ?? 'sqlite,postgres').split(',');
  const withLogins = process.env.BENCH_LOGINS !== '0';
  const withValidation = process.env.BENCH_VALIDATION !== '0';
  const withPasskeys = process.env.BENCH_PASSKEYS !== '0';
  if (process.env.BENCH_SKIP_BUILD !== '1') {
    const build = spawnSync('npx', ['tsc', '-p', 'tsconfig.build.json'], { cwd: ROOT, stdio: 'inherit' });
    if (build.status !== 0) throw new Error('build failed');
  }
  const loadBefore = os.loadavg();
  benchStarted = performance.now();
  const bare = await startBareRoute();
  const phases: Phase[] = [];
  let startToHealthyMs: number | null = null;
  /** CPU the server spent until healthy: what the start costs, whatever else the machine runs. */
  let startCpuMs: number | null = null;

  // latchkey with its defaults: embedded SQLite, OWASP argon2id, logging at warn.
  if (stores.includes('sqlite')) {
    const port = await freePort();
    const base = `http://127.0.0.1:${port}`;
    const started = performance.now();
    const server = start(
      'dist/src/cli/main.js',
      ['serve'],
      serverEnv(port, path.join(scratch, 'sqlite')),
      serverExecArgv('sqlite'),
    );
    startToHealthyMs = await waitHealthy(`${base}/health`, started);
    startCpuMs = (cpuSecondsOf(server.pid) ?? Number.NaN) * 1000;
    const admin = await passwordToken(base, 'bench-admin');
    if (withValidation) phases.push(...(await validationPhases(base, server, 'sqlite', admin, bare.slice)));
    if (withLogins) phases.push(...(await loginPhases(base, server, admin)));
    await stop(server);
    if (withPasskeys) phases.push(await passkeyPhase());
  }

  const database = stores.includes('postgres') ? await postgresDatabase() : undefined;
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
      const admin = await passwordToken(base, 'bench-admin');
      phases.push(...(await validationPhases(base, server, 'postgres', admin, bare.slice)));
      await stop(server);
    } finally {
      await database.drop();
    }
  }
  await bare.stop();

  const round = (value: number | null, digits = 3) =>
    value === null ? null : Math.round(value * 10 ** digits) / 10 ** digits;
  const results = {
    date: new Date().toISOString(),
    secondsPerPhase: ROUNDS * SLICE_SECONDS,
    slices: { rounds: ROUNDS, seconds: SLICE_SECONDS },
    machine: {
      cpus: os.cpus().length,
      node: process.version,
      loadAverageBefore: loadBefore.map((value) => round(value, 2)),
      loadAverageAfter: os.loadavg().map((value) => round(value, 2)),
    },
    load: {
      generator: 'wrk',
      validation: { threads: 1, connections: VALIDATION_CONNECTIONS },
      passwordLogin: { threads: 1, connections: LOGIN_CONCURRENCY },
      otpLogin: { threads: LOGIN_CONCURRENCY, connections: LOGIN_CONCURRENCY },
      passkeySignIn: {
        generator: 'bench/passkey-driver.ts (Node, signs each challenge)',
        inFlight: LOGIN_CONCURRENCY,
      },
    },
    rawArgon2: {
      library: '@node-rs/argon2',
      inFlight: LOGIN_CONCURRENCY,
      memoryKib: 19456,
      iterations: 2,
      parallelism: 1,
    },
    startToHealthyMs: round(startToHealthyMs, 0),
    startCpuMs: round(startCpuMs, 0),
    targets: TARGETS,
    phases: phases.map((phase) => ({
      ...phase,
      perSecond: round(phase.perSecond, 1),
      p50Ms: round(phase.p50Ms, 2),
      p99Ms: round(phase.p99Ms, 2),
      worstP99Ms: round(phase.worstP99Ms, 2),
      ceilingPerSecond: round(phase.ceilingPerSecond, 1),
      ceilingP99Ms: round(phase.ceilingP99Ms, 2),
      ratio: round(phase.ratio),
      cpuMicrosPerOperation: round(phase.cpuMicrosPerOperation, 1),
      ceilingCpuMicrosPerOperation: round(phase.ceilingCpuMicrosPerOperation, 1),
      cpuRatio: round(phase.cpuRatio),
      ...(phase.loadCpuMicrosPerOperation === undefined
        ? {}
        : {
            loadCpuMicrosPerOperation: round(phase.loadCpuMicrosPerOperation, 1),
            ceilingLoadCpuMicrosPerOperation: round(phase.ceilingLoadCpuMicrosPerOperation ?? null, 1),
          }),
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
    if (misses.length > 0) return `MISSED: ${misses.join(', ')}`;
    return phase.target === null ? 'met (p99, RSS)' : `met`;
  };
  console.log(
    '| phase | store | per s | p50 ms | p99 ms (ceiling) | RSS MB | ceiling per s | ratio | CPU µs/op (ceiling) | CPU ratio | target |',
  );
  console.log('|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|');
  for (const phase of phases) {
    const digits = phase.perSecond > 1000 ? 0 : 1;
    console.log(
      `| ${phase.name} | ${phase.store} | ${phase.perSecond.toFixed(digits)} | ${cell(phase.p50Ms, 2)} | ${cell(phase.p99Ms, 2)} (${cell(phase.ceilingP99Ms, 2)}) | ${cell(phase.rssMb, 1)} | ${cell(phase.ceilingPerSecond, digits)} (${phase.ceiling}) | ${cell(phase.ratio, 3)} | ${cell(phase.cpuMicrosPerOperation, 0)} (${cell(phase.ceilingCpuMicrosPerOperation, 0)}) | ${cell(phase.cpuRatio, 3)} | ${phase.target === null ? '' : `≥ ${phase.target}: `}${verdict(phase)} |`,
    );
  }
  const loads = (values: (number | null)[]) => values.map((value) => value?.toFixed(2)).join(' ');
  console.log(
    `load average (1, 5, 15 min): ${loads(results.machine.loadAverageBefore)} before, ${loads(results.machine.loadAverageAfter)} after; ${results.machine.cpus} CPUs; ${Math.round((performance.now() - benchStarted) / 1000)} s in all`,
  );
  if (results.startToHealthyMs !== null) {
    const missed = results.startToHealthyMs > TARGETS.startMs ? ' MISSED' : '';
    console.log(
      `start to healthy (SQLite): ${results.startToHealthyMs} ms (target ≤ ${TARGETS.startMs} ms)${missed}; CPU spent: ${results.startCpuMs} ms`,
    );
  }
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
