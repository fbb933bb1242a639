import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { builtBin, ensureBuilt, freePort, plain, ROOT, terminal } from './support/cli.js';
import { childEnv } from './support/process.js';

/**
 * A refused start leaves nothing behind and says one thing: every check that writes nothing
 * (bootstrap password, database reachable, port free) comes before the key ring file, the
 * database file and the "No users yet" hint.
 */
function serve(
  env: Record<string, string>,
): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [builtBin(), 'serve'], {
      cwd: ROOT,
      env: childEnv({ LATCHKEY_LOG_LEVEL: 'info', LATCHKEY_ARGON2_MEMORY_KIB: '1024', ...env }),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
    });
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    // A start that wrongly succeeds is stopped, and then fails the assertions.
    const guard = setTimeout(() => child.kill('SIGKILL'), 30_000);
    child.on('close', (status) => {
      clearTimeout(guard);
      resolve({ status, stdout, stderr });
    });
  });
}

describe('start-up checks before side effects', () => {
  const dirs: string[] = [];
  /** A data directory that does not exist yet: a refused start must not make it. */
  const freshDataDir = () => {
    const parent = fs.mkdtempSync(path.join(os.tmpdir(), 'latchkey-order-'));
    dirs.push(parent);
    return path.join(parent, 'data');
  };
  before(() => ensureBuilt());
  after(() => {
    for (const dir of dirs) fs.rmSync(dir, { recursive: true, force: true });
  });

  test('a weak bootstrap password is refused before the key ring or the database is written', async () => {
    const dataDir = freshDataDir();
    const result = await serve({
      LATCHKEY_DATA_DIR: dataDir,
      LATCHKEY_PORT: String(await freePort()),
      LATCHKEY_BOOTSTRAP_ADMIN_USERNAME: 'root',
      LATCHKEY_BOOTSTRAP_ADMIN_PASSWORD: 'weak',
    });
    assert.equal(result.status, 2, result.stderr);
    assert.match(result.stderr, /LATCHKEY_BOOTSTRAP_ADMIN_PASSWORD/);
    assert.ok(
      !fs.existsSync(dataDir),
      `nothing written: ${fs.existsSync(dataDir) ? fs.readdirSync(dataDir) : ''}`,
    );
  });

  test('an unreachable PostgreSQL is refused before a key ring file is made', async () => {
    const dataDir = freshDataDir();
    const result = await serve({
      LATCHKEY_DATA_DIR: dataDir,
      LATCHKEY_PORT: String(await freePort()),
      LATCHKEY_DATABASE_URL: 'postgres://latchkey@127.0.0.1:1/latchkey',
    });
    assert.equal(result.status, 1, result.stderr);
    assert.match(result.stderr, /cannot reach PostgreSQL at 127\.0\.0\.1:1/);
    assert.ok(!fs.existsSync(path.join(dataDir, 'secret-keys')), 'no key ring written');
    assert.doesNotMatch(result.stdout, /key ring generated/);
  });

  test('a port in use is the only thing said: no hint about users, no key ring, no database', async () => {
    const holder = net.createServer();
    await new Promise<void>((resolve) => holder.listen(0, '127.0.0.1', resolve));
    const address = holder.address();
    assert.ok(typeof address === 'object' && address);
    const dataDir = freshDataDir();
    try {
      const result = await serve({ LATCHKEY_DATA_DIR: dataDir, LATCHKEY_PORT: String(address.port) });
      assert.equal(result.status, 1, result.stderr);
      assert.match(result.stderr, new RegExp(`127\\.0\\.0\\.1:${address.port} is already in use`));
      assert.doesNotMatch(`${result.stdout}${result.stderr}`, /No users yet/);
      assert.ok(!fs.existsSync(path.join(dataDir, 'secret-keys')), 'no key ring written');
      assert.ok(!fs.existsSync(path.join(dataDir, 'latchkey.db')), 'no database created');
    } finally {
      holder.close();
    }
  });

  test('log lines are JSON into a pipe, and readable on a terminal', async () => {
    const port = await freePort();
    const env = { LATCHKEY_DATA_DIR: freshDataDir(), LATCHKEY_PORT: String(port), NO_COLOR: '1' };
    const piped = spawn(process.execPath, [builtBin(), 'serve'], {
      cwd: ROOT,
      env: childEnv({ LATCHKEY_LOG_LEVEL: 'info', ...env }),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const pipedLines = await linesUntil(piped.stdout, /latchkey listening.*\n/);
    const stopped = new Promise((resolve) => piped.once('close', resolve));
    piped.kill('SIGTERM');
    await stopped;
    const listening = pipedLines.find((line) => line.includes('latchkey listening')) ?? '';
    const record = JSON.parse(listening) as { level: number; msg: string; url: string };
    assert.equal(record.msg, 'latchkey listening');
    assert.equal(record.url, `http://127.0.0.1:${port}`);
    assert.match(pipedLines.join('\n'), /No users yet/, 'said once listening, with nobody to log in');

    const session = terminal(['serve'], {
      LATCHKEY_LOG_LEVEL: 'info',
      ...env,
      LATCHKEY_PORT: String(await freePort()),
    });
    await session.expect(/latchkey listening\n\s+url: .*\n/, 120_000);
    session.type('\x03'); // Ctrl-C: the server stops as a person stops it
    await session.exit;
    const screen = plain(session.screen);
    assert.match(screen, /^\[\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}\] INFO: latchkey listening$/m);
    assert.match(screen, /^\s+url: "http:\/\/127\.0\.0\.1:\d+"$/m);
    assert.doesNotMatch(screen, /\{"level"/, 'no raw JSON on a terminal');
  });
});

/** Lines of a stream until the text matches (or 120 s pass, a loaded machine's start); patterns end at a line's end. */
function linesUntil(stream: NodeJS.ReadableStream, pattern: RegExp): Promise<string[]> {
  return new Promise((resolve, reject) => {
    let text = '';
    const timer = setTimeout(() => reject(new Error(`never saw ${pattern} in:\n${text}`)), 120_000);
    stream.on('data', (chunk: Buffer) => {
      text += chunk.toString();
      if (pattern.test(text)) {
        clearTimeout(timer);
        resolve(text.split(/\r?\n/));
      }
    });
  });
}
