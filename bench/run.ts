/**
 * npm run bench: loopback only, bounded. Every figure is reported beside a ceiling measured in
 * the same run on the same machine, because absolute numbers on a shared machine mean little:
 *   - token validation against a bare Fastify JSON route;
 *   - password login and the full two-step MFA login against raw argon2id verifies with the
 *     server's parameters and the same number of requests in flight.
 * Servers and the argon2 loop run in child processes; the load comes from this process.
 */
import { type ChildProcess, fork } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import autocannon from 'autocannon';
import { TOTP } from 'otpauth';

const ROOT = path.resolve(import.meta.dirname, '..');
const SECONDS = Number(process.env.BENCH_SECONDS ?? 8);
/** libuv's default thread pool, where argon2 runs: the raw loop keeps this many verifies going. */
const ARGON2_THREADS = 4;
/**
 * Logins in flight: twice the pool, so the pool stays full while some logins are between
 * their argon2 work and their other steps (parsing, database, step 2 of an MFA login). This
 * measures the server's throughput, whose ceiling is the pool kept full.
 */
const LOGIN_CONCURRENCY = 2 * ARGON2_THREADS;
const PASSWORD = 'Benchpass1';

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

const children: ChildProcess[] = [];
process.on('exit', () => {
  for (const child of children) child.kill('SIGKILL');
});

function start(script: string, args: string[], env: Record<string, string>): ChildProcess {
  const child = fork(path.join(ROOT, script), args, {
    cwd: ROOT,
    execArgv: ['--import', 'tsx'],
    env: { PATH: process.env.PATH ?? '', ...env },
    stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
  });
  children.push(child);
  return child;
}

async function waitHealthy(url: string): Promise<void> {
  for (let attempt = 0; attempt < 300; attempt++) {
    try {
      if ((await fetch(url)).ok) return;
    } catch {
      // not yet listening
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
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

interface LoadResult {
  perSecond: number;
  p99Ms: number | null;
  errors: number;
}

async function cannon(options: autocannon.Options): Promise<LoadResult> {
  // A short warm-up so JIT and connection set-up stay out of the figure.
  await autocannon({ ...options, duration: 1 });
  const result = await autocannon({ ...options, duration: SECONDS });
  return {
    perSecond: result.requests.average,
    p99Ms: result.latency.p99,
    errors: result.errors + result.non2xx,
  };
}

// node:http with a keep-alive agent: on two cores the load generator's own CPU is taken from the
// server, so the client is kept as light as autocannon's is.
const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });

async function api(
  base: string,
  method: string,
  url: string,
  body?: unknown,
  token?: string,
  headers: Record<string, string> = {},
): Promise<{ status: number; header(name: string): string | undefined; json: unknown }> {
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

async function passwordToken(base: string, username: string): Promise<string> {
  const login = await api(base, 'POST', '/v2.0/tokens', {
    auth: { passwordCredentials: { username, password: PASSWORD } },
  });
  if (login.status !== 200) throw new Error(`login ${username}: ${login.status}`);
  return (login.json as { access: { token: { id: string } } }).access.token.id;
}

interface OtpAccount {
  username: string;
  totp: TOTP;
  lastStep: number;
}

/**
 * Each TOTP code is accepted once per device (the last accepted step must grow), and within one
 * 30 s period a user can log in with at most the codes of steps t-1, t and t+1. So the MFA phase
 * rotates over enough OTP users that none runs out, and every login is a real step 1 + step 2.
 */
async function createOtpAccounts(base: string, adminToken: string, count: number): Promise<OtpAccount[]> {
  const accounts: OtpAccount[] = [];
  for (let i = 0; i < count; i++) {
    const username = `bench-otp-${i}`;
    const created = await api(
      base,
      'POST',
      '/v2.0/users',
      { user: { username, 'OS-KSADM:password': PASSWORD } },
      adminToken,
    );
    if (created.status !== 201) throw new Error(`create ${username}: ${created.status}`);
    const id = (created.json as { user: { id: string } }).user.id;
    const token = await passwordToken(base, username);
    const device = await api(
      base,
      'POST',
      `/v2.0/users/${id}/RAX-AUTH/multi-factor/otp-devices`,
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
      `/v2.0/users/${id}/RAX-AUTH/multi-factor/otp-devices/${otpDevice.id}/verify`,
      { 'RAX-AUTH:verificationCode': { code: totp.generate({ timestamp: (step - 1) * 30_000 }) } },
      token,
    );
    if (verify.status !== 204) throw new Error(`verify ${username}: ${verify.status}`);
    const enable = await api(
      base,
      'PUT',
      `/v2.0/users/${id}/RAX-AUTH/multi-factor`,
      { 'RAX-AUTH:multiFactor': { enabled: true } },
      token,
    );
    if (enable.status !== 204) throw new Error(`enable ${username}: ${enable.status}`);
    accounts.push({ username, totp, lastStep: step - 1 });
  }
  return accounts;
}

async function mfaLogins(base: string, accounts: OtpAccount[]): Promise<LoadResult> {
  let next = 0;
  const take = (): { account: OtpAccount; step: number } | undefined => {
    for (let tried = 0; tried < accounts.length; tried++) {
      const account = accounts[next++ % accounts.length];
      if (!account) continue;
      const current = Math.floor(Date.now() / 30_000);
      const step = Math.max(account.lastStep + 1, current - 1);
      if (step <= current + 1) {
        account.lastStep = step;
        return { account, step };
      }
    }
    return undefined;
  };
  const run = async (seconds: number) => {
    let done = 0;
    let errors = 0;
    const latencies: number[] = [];
    const deadline = Date.now() + seconds * 1000;
    await Promise.all(
      Array.from({ length: LOGIN_CONCURRENCY }, async () => {
        while (Date.now() < deadline) {
          const pick = take();
          if (!pick) throw new Error('ran out of OTP users: create more');
          const began = performance.now();
          const first = await api(base, 'POST', '/v2.0/tokens', {
            auth: { passwordCredentials: { username: pick.account.username, password: PASSWORD } },
          });
          const sessionId = /sessionId='([^']+)'/.exec(first.header('www-authenticate') ?? '')?.[1] ?? '';
          const second = await api(
            base,
            'POST',
            '/v2.0/tokens',
            {
              auth: {
                'RAX-AUTH:passcodeCredentials': {
                  passcode: pick.account.totp.generate({ timestamp: pick.step * 30_000 }),
                },
              },
            },
            undefined,
            { 'X-SessionId': sessionId },
          );
          if (first.status === 401 && second.status === 200) {
            done++;
            latencies.push(performance.now() - began);
          } else errors++;
        }
      }),
    );
    latencies.sort((a, b) => a - b);
    return {
      perSecond: done / seconds,
      p99Ms: latencies[Math.floor(latencies.length * 0.99)] ?? null,
      errors,
    };
  };
  await run(1);
  return run(SECONDS);
}

async function rawArgon2(): Promise<number> {
  const child = start('bench/argon2-loop.ts', [], {
    CONCURRENCY: String(LOGIN_CONCURRENCY),
    SECONDS: String(SECONDS),
  });
  const result = await new Promise<{ perSecond: number }>((resolve, reject) => {
    child.once('message', (message) => resolve(message as { perSecond: number }));
    child.once('exit', (code) => reject(new Error(`argon2 loop exited ${code}`)));
  });
  await stop(child);
  return result.perSecond;
}

async function main(): Promise<void> {
  const dataDir = fs.mkdtempSync(path.join(process.env.BENCH_DATA_ROOT ?? os.tmpdir(), 'latchkey-bench-'));

  // 1. The bare route, alone on the machine.
  const barePort = await freePort();
  const bare = start('bench/bare-server.ts', [], { PORT: String(barePort) });
  await waitHealthy(`http://127.0.0.1:${barePort}/`);
  const bareResult = await cannon({ url: `http://127.0.0.1:${barePort}/`, connections: 10 });
  await stop(bare);

  // 2. latchkey with its defaults (embedded SQLite, OWASP argon2id), logging at warn.
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const server = start('src/cli/main.ts', ['serve'], {
    LATCHKEY_PORT: String(port),
    LATCHKEY_DATA_DIR: dataDir,
    LATCHKEY_LOG_LEVEL: 'warn',
    LATCHKEY_BOOTSTRAP_ADMIN_USERNAME: 'bench-admin',
    LATCHKEY_BOOTSTRAP_ADMIN_PASSWORD: PASSWORD,
  });
  await waitHealthy(`${base}/health`);
  const adminToken = await passwordToken(base, 'bench-admin');
  const owner = await api(
    base,
    'POST',
    '/v2.0/users',
    { user: { username: 'bench-owner', 'OS-KSADM:password': PASSWORD } },
    adminToken,
  );
  if (owner.status !== 201) throw new Error(`create owner: ${owner.status}`);
  const ownerToken = await passwordToken(base, 'bench-owner');

  const validation = await cannon({
    url: `${base}/v2.0/tokens/${ownerToken}`,
    connections: 10,
    headers: { 'x-auth-token': ownerToken },
  });
  const login = await cannon({
    url: `${base}/v2.0/tokens`,
    method: 'POST',
    connections: LOGIN_CONCURRENCY,
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ auth: { passwordCredentials: { username: 'bench-owner', password: PASSWORD } } }),
  });
  // Enough OTP users that none runs out of fresh codes: verification spends step t-1, which
  // leaves t and t+1, so two logins each (with room to spare: an MFA login is slower).
  const expected = Math.ceil(((login.perSecond || 50) * (SECONDS + 1)) / 2) + 8;
  const accounts = await createOtpAccounts(base, adminToken, Math.min(expected, 1000));
  const mfa = await mfaLogins(base, accounts);
  await stop(server);

  // 3. The argon2 ceiling, alone on the machine.
  const argon2PerSecond = await rawArgon2();

  const ratio = (value: number, ceiling: number) => Math.round((value / ceiling) * 1000) / 1000;
  const results = {
    date: new Date().toISOString(),
    seconds: SECONDS,
    machine: { cpus: os.cpus().length, node: process.version },
    bareRoute: bareResult,
    tokenValidation: {
      ...validation,
      ratioToBare: ratio(validation.perSecond, bareResult.perSecond),
      target: 0.5,
    },
    passwordLogin: {
      ...login,
      concurrency: LOGIN_CONCURRENCY,
      ratioToArgon2: ratio(login.perSecond, argon2PerSecond),
      target: 0.8,
    },
    mfaLogin: {
      ...mfa,
      otpUsers: accounts.length,
      ratioToArgon2: ratio(mfa.perSecond, argon2PerSecond),
      target: 0.85,
    },
    rawArgon2: {
      perSecond: argon2PerSecond,
      concurrency: LOGIN_CONCURRENCY,
      memoryKib: 19456,
      iterations: 2,
      parallelism: 1,
    },
  };
  fs.writeFileSync(path.join(ROOT, 'bench/results.json'), `${JSON.stringify(results, null, 2)}\n`);
  const row = (
    name: string,
    value: number,
    p99: number | null,
    ceiling: string,
    r: number | null,
    target: number | null,
  ) =>
    `| ${name.padEnd(34)} | ${value.toFixed(1).padStart(9)} | ${(p99 === null ? '-' : p99.toFixed(1)).padStart(8)} | ${ceiling.padEnd(18)} | ${(r === null ? '-' : r.toFixed(3)).padStart(6)} | ${target === null ? '-' : `≥ ${target} ${r !== null && r >= target ? 'met' : 'MISSED'}`} |`;
  console.log(
    '| phase                              |     req/s |  p99 ms | ceiling            |  ratio | target |',
  );
  console.log('|---|---:|---:|---|---:|---|');
  console.log(row('bare Fastify JSON route', bareResult.perSecond, bareResult.p99Ms, '-', null, null));
  console.log(
    row(
      'token validation GET /tokens/{id}',
      validation.perSecond,
      validation.p99Ms,
      'bare route',
      results.tokenValidation.ratioToBare,
      0.5,
    ),
  );
  console.log(row('raw argon2id verify (4 in flight)', argon2PerSecond, null, '-', null, null));
  console.log(
    row(
      'password login POST /tokens',
      login.perSecond,
      login.p99Ms,
      'raw argon2id',
      results.passwordLogin.ratioToArgon2,
      0.8,
    ),
  );
  console.log(
    row(
      'two-step OTP login (2 requests)',
      mfa.perSecond,
      mfa.p99Ms,
      'raw argon2id',
      results.mfaLogin.ratioToArgon2,
      0.85,
    ),
  );
  const errors = validation.errors + login.errors + mfa.errors + bareResult.errors;
  if (errors > 0) console.log(`errors or non-2xx answers during load: ${errors}`);
  fs.rmSync(dataDir, { recursive: true, force: true });
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    console.error(error);
    process.exit(1);
  },
);
