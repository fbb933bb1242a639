/**
 * What a flood of failed logins from one address does to everyone else's logins:
 * `node --import tsx bench/login-flood.ts`. One server (OWASP argon2id parameters) per run, with
 * the per-source limit off and then at its default; during a flood of wrong passwords from one
 * address, another address logs in one request at a time and its median latency is reported
 * beside the same logins without a flood. The flood comes from wrk (Debian package), a separate
 * light process. Loopback only, bounded (FLOOD_SECONDS, default 8).
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadConfig } from '../src/config/config.js';
import { startServer } from '../src/server/main.js';

const SECONDS = Number(process.env.FLOOD_SECONDS ?? 8);
const PASSWORD = 'Benchpass1';
const KEYS = `1:${Buffer.alloc(32, 9).toString('base64')}`;

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] ?? 0;

async function loginTimes(url: string, until: () => boolean, at = 20): Promise<number[]> {
  const times: number[] = [];
  while (times.length < at || !until()) {
    const started = performance.now();
    const response = await fetch(`${url}/v2.0/tokens`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-forwarded-for': '198.51.100.1' },
      body: JSON.stringify({ auth: { passwordCredentials: { username: 'root', password: PASSWORD } } }),
    });
    await response.arrayBuffer();
    if (response.status !== 200) throw new Error(`login answered ${response.status}`);
    times.push(performance.now() - started);
    if (times.length >= 2000) break;
  }
  return times;
}

async function run(limit: string): Promise<void> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'latchkey-flood-'));
  const server = await startServer(
    loadConfig({
      LATCHKEY_DATA_DIR: dir,
      LATCHKEY_PORT: '0',
      LATCHKEY_SECRET_KEYS: KEYS,
      LATCHKEY_LOG_LEVEL: 'silent',
      LATCHKEY_TRUSTED_PROXIES: '127.0.0.1',
      LATCHKEY_LOGIN_FAILURES_PER_SOURCE: limit,
      LATCHKEY_BOOTSTRAP_ADMIN_USERNAME: 'root',
      LATCHKEY_BOOTSTRAP_ADMIN_PASSWORD: PASSWORD,
    }),
  );
  try {
    const quiet = median(await loginTimes(server.url, () => true));
    let flooding = true;
    // Wrong passwords for a name that does not exist: the same argon2 work as a real one, and no
    // account lock to get in the way of the measured logins.
    const script = path.join(dir, 'flood.lua');
    fs.writeFileSync(
      script,
      [
        'wrk.method = "POST"',
        'wrk.headers["Content-Type"] = "application/json"',
        'wrk.headers["X-Forwarded-For"] = "203.0.113.66"',
        `wrk.body = '${JSON.stringify({ auth: { passwordCredentials: { username: 'nobody', password: 'Wrongpass1' } } })}'`,
      ].join('\n'),
    );
    const flood = new Promise<string>((resolve, reject) => {
      const wrk = spawn('wrk', ['-t1', '-c32', `-d${SECONDS}s`, '-s', script, `${server.url}/v2.0/tokens`]);
      let output = '';
      wrk.stdout.on('data', (chunk: Buffer) => {
        output += chunk.toString();
      });
      wrk.on('error', reject);
      wrk.on('close', () => resolve(output));
    });
    await new Promise((resolve) => setTimeout(resolve, 500));
    const during = loginTimes(server.url, () => !flooding);
    const result = await flood;
    flooding = false;
    const loaded = median(await during);
    const requests = /(\d+) requests in/.exec(result)?.[1] ?? '?';
    const refused = /Non-2xx or 3xx responses: (\d+)/.exec(result)?.[1] ?? '0';
    const answers = `${requests} requests, ${refused} refused`;
    process.stdout.write(
      `LATCHKEY_LOGIN_FAILURES_PER_SOURCE=${limit}: median login ${quiet.toFixed(1)} ms alone, ` +
        `${loaded.toFixed(1)} ms during the flood (flood answers ${answers})\n`,
    );
  } finally {
    await server.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

await run('0');
await run('100');
