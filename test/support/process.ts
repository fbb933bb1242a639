import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { until } from './wait.js';

/** The tests' child processes: servers and CLIs spawned as users run them. */
export const ROOT = path.resolve(import.meta.dirname, '..', '..');

/** A port free now on 127.0.0.1, for a server process told to listen on it. */
export async function freePort(): Promise<number> {
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

/**
 * A child's environment: PATH, the given variables, and NODE_V8_COVERAGE when coverage is being
 * collected (`npm run coverage`), so spawned servers and CLIs count towards it.
 */
export function childEnv(env: Record<string, string | undefined> = {}): Record<string, string> {
  const base: Record<string, string | undefined> = {
    PATH: process.env.PATH ?? '',
    ...(process.env.NODE_V8_COVERAGE ? { NODE_V8_COVERAGE: process.env.NODE_V8_COVERAGE } : {}),
    ...env,
  };
  return Object.fromEntries(
    Object.entries(base).filter((entry): entry is [string, string] => entry[1] !== undefined),
  );
}

/** Collect a child's stdout and stderr, interleaved as they come. */
export function collectOutput(child: ChildProcess): string[] {
  const output: string[] = [];
  child.stdout?.on('data', (chunk: Buffer) => output.push(chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => output.push(chunk.toString()));
  return output;
}

/**
 * Wait until a spawned server answers /health with 200; fail at once, with its output, if it
 * exits first, and after 60 s (a start on a loaded machine takes a few) if it never answers.
 */
export async function untilHealthy(url: string, child: ChildProcess, output: string[]): Promise<void> {
  await until(
    async () => {
      if (child.exitCode !== null || child.signalCode !== null)
        throw new Error(`the server exited before answering /health:\n${output.join('')}`);
      try {
        return (await fetch(`${url}/health`)).ok;
      } catch {
        return false; // not listening yet
      }
    },
    `${url}/health to answer\n${output.join('')}`,
    60_000,
  );
}

export interface ServerChild {
  child: ChildProcess;
  output: string[];
  url: string;
  exited: Promise<number | null>;
}

/** `latchkey serve` from the sources (tsx), on a free port, once /health answers. */
export async function serveFromSources(env: Record<string, string>): Promise<ServerChild> {
  const port = await freePort();
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'serve'], {
    cwd: ROOT,
    env: childEnv({ LATCHKEY_PORT: String(port), ...env }),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const output = collectOutput(child);
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const url = `http://127.0.0.1:${port}`;
  try {
    await untilHealthy(url, child, output);
  } catch (error) {
    child.kill('SIGKILL');
    throw error;
  }
  return { child, output, url, exited };
}

function newestMtime(dir: string): number {
  let newest = 0;
  for (const entry of fs.readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (entry.isFile())
      newest = Math.max(newest, fs.statSync(path.join(entry.parentPath, entry.name)).mtimeMs);
  }
  return newest;
}

let builtRoot: string | undefined;

/**
 * A directory laid out like the repository (package.json, dist/, deploy/, node_modules) whose
 * dist/ is built from the current sources: the repository itself when its dist/ (what `npm ci`
 * built) is newer than every source, otherwise a build in the temporary directory, kept there
 * for the next test files while the sources stay the same. Tests never write into the repository.
 */
export function buildRoot(): string {
  if (builtRoot) return builtRoot;
  const buildInfo = path.join(ROOT, 'dist', '.tsbuildinfo');
  const sources = Math.max(
    newestMtime(path.join(ROOT, 'src')),
    ...['tsconfig.json', 'tsconfig.build.json'].map((file) => fs.statSync(path.join(ROOT, file)).mtimeMs),
  );
  if (fs.existsSync(buildInfo) && fs.statSync(buildInfo).mtimeMs >= sources) {
    builtRoot = ROOT;
    return builtRoot;
  }
  const key = createHash('sha256').update(`${ROOT}\u0000${sources}`).digest('hex').slice(0, 16);
  const kept = path.join(os.tmpdir(), `latchkey-build-${key}`);
  if (fs.existsSync(path.join(kept, 'dist', '.tsbuildinfo'))) {
    builtRoot = kept;
    return builtRoot;
  }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'latchkey-building-'));
  execFileSync(
    process.execPath,
    [
      path.join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'),
      '-p',
      'tsconfig.build.json',
      '--outDir',
      path.join(dir, 'dist'),
      '--tsBuildInfoFile',
      path.join(dir, 'dist', '.tsbuildinfo'),
    ],
    { cwd: ROOT, stdio: 'inherit' },
  );
  fs.cpSync(path.join(ROOT, 'src/panel/assets'), path.join(dir, 'dist/src/panel/assets'), {
    recursive: true,
  });
  fs.cpSync(path.join(ROOT, 'deploy'), path.join(dir, 'deploy'), { recursive: true });
  fs.copyFileSync(path.join(ROOT, 'package.json'), path.join(dir, 'package.json'));
  fs.symlinkSync(path.join(ROOT, 'node_modules'), path.join(dir, 'node_modules'));
  try {
    fs.renameSync(dir, kept);
  } catch {
    fs.rmSync(dir, { recursive: true, force: true }); // another test file kept its build first
  }
  builtRoot = kept;
  return builtRoot;
}

/** The compiled `latchkey` bin of buildRoot(). */
export function builtBin(): string {
  return path.join(buildRoot(), 'dist', 'src', 'cli', 'main.js');
}

/** What a command run to its end said and how it exited. */
export interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/**
 * Runs a client program (the `openstack` CLI, a Python script) in a clean environment: no OS_*
 * variable of the machine leaks into it, its HOME is `cwd`, and `env` is all it is given besides.
 */
export function runClean(
  command: string,
  args: string[],
  cwd: string,
  env: Record<string, string> = {},
): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, {
      cwd,
      env: { PATH: process.env.PATH ?? '', HOME: cwd, LANG: 'C.UTF-8', ...env },
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
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}
