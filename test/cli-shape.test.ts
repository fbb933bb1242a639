import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { before, describe, test } from 'node:test';
import type { Command } from 'commander';
import { buildProgram } from '../src/cli/program.js';
import { builtBin, ensureBuilt, newHome, ROOT, runCli } from './support/cli.js';
import { childEnv } from './support/process.js';
import { requireTool } from './support/tools.js';

/** Every command path of the tree: [], ['login'], ['mfa'], ['mfa', 'status'], ... */
function commandPaths(command: Command, prefix: string[] = []): string[][] {
  return [prefix, ...command.commands.flatMap((sub) => commandPaths(sub, [...prefix, sub.name()]))];
}

/** Modules a file loads when it runs: static imports that are not `import type`. */
function staticImports(file: string): string[] {
  const source = fs.readFileSync(file, 'utf8');
  const found: string[] = [];
  for (const match of source.matchAll(/^(?:import|export)\s+(?!type\s)(?:[^;'"]*?\sfrom\s+)?'([^']+)'/gm)) {
    if (match[1]) found.push(match[1]);
  }
  return found;
}

function reachable(entry: string): { files: Set<string>; packages: Set<string> } {
  const files = new Set<string>();
  const packages = new Set<string>();
  const visit = (file: string) => {
    if (files.has(file)) return;
    files.add(file);
    for (const specifier of staticImports(file)) {
      if (specifier.startsWith('.'))
        visit(path.resolve(path.dirname(file), specifier).replace(/\.js$/, '.ts'));
      else packages.add(specifier);
    }
  };
  visit(entry);
  return { files, packages };
}

describe('the latchkey command as a whole', () => {
  before(() => ensureBuilt());

  test('client commands and --help load no server code (it is imported inside the server commands only)', () => {
    const { files, packages } = reachable(path.join(ROOT, 'src', 'cli', 'main.ts'));
    const serverPackages = [
      'fastify',
      'kysely',
      'better-sqlite3',
      'pg',
      'argon2',
      'pino',
      'typebox',
      'otpauth',
    ];
    for (const name of packages) {
      assert.ok(!serverPackages.some((server) => name === server || name.startsWith(`${server}/`)), name);
      assert.ok(!name.startsWith('@fastify/'), name);
    }
    const relative = [...files].map((file) => path.relative(ROOT, file));
    for (const file of relative) {
      assert.ok(
        file.startsWith('src/cli/') ||
          ['src/http/v2/wire.ts', 'src/core/errors.ts', 'src/core/package-version.ts'].includes(file),
        file,
      );
    }
    assert.ok(relative.includes('src/http/v2/wire.ts'), 'the CLI reads the wire types the server renders');
  });

  test('every command answers --help with at least one example', async () => {
    const paths = commandPaths(buildProgram());
    assert.ok(paths.length > 30, 'the whole tree is walked');
    const home = newHome();
    const results = await Promise.all(paths.map((args) => runCli([...args, '--help'], home.env)));
    home.cleanup();
    results.forEach((result, index) => {
      const name = ['latchkey', ...(paths[index] ?? [])].join(' ');
      assert.equal(result.status, 0, `${name} --help`);
      assert.match(result.stdout, /^Usage: latchkey/, name);
      assert.match(result.stdout, /\nExamples?:\n {2}\$ /, `${name} --help has an example`);
      assert.ok(!result.stdout.includes('\x1b['), `${name}: no colour without a terminal`);
    });
  });

  test('bash completion completes commands, options and fixed values', () => {
    const complete = (words: string[]) => {
      const shell = spawnSync(
        'bash',
        [
          '-c',
          `source <('${process.execPath}' '${builtBin()}' completion bash)
COMP_WORDS=(${words.map((word) => `'${word}'`).join(' ')}); COMP_CWORD=${words.length - 1}
_latchkey; printf '%s\\n' "\${COMPREPLY[@]}"`,
        ],
        { encoding: 'utf8', env: childEnv() },
      );
      assert.equal(shell.status, 0, shell.stderr);
      return shell.stdout.trim().split('\n').sort();
    };
    assert.ok(complete(['latchkey', '']).includes('login'));
    assert.deepEqual(complete(['latchkey', 'mfa', 'add-']), ['add-authenticator', 'add-phone']);
    assert.deepEqual(complete(['latchkey', 'mfa', 'default', '']), ['authenticator', 'sms']);
    assert.deepEqual(complete(['latchkey', '--json', 'login', '--pass']), ['--passcode', '--password-stdin']);
    assert.deepEqual(complete(['latchkey', 'account', 'enforcement', 'set', '']), [
      'OPTIONAL',
      'PASSKEYS_ONLY',
      'REQUIRED',
    ]);
  });

  test('zsh completion is a compdef function that zsh parses', { skip: requireTool('zsh') }, () => {
    const script = spawnSync(process.execPath, [builtBin(), 'completion', 'zsh'], { encoding: 'utf8' });
    assert.equal(script.status, 0);
    assert.match(script.stdout, /^#compdef latchkey\n/);
    assert.match(script.stdout, /'add-authenticator:add an authenticator app/);
    const zsh = spawnSync('zsh', ['-n'], { input: script.stdout, encoding: 'utf8' });
    assert.equal(zsh.status, 0, zsh.stderr);
  });

  test('server operations stay at the top and under `latchkey server`', async () => {
    const home = newHome();
    const help = await runCli(['--help'], home.env);
    for (const name of ['serve', 'migrate', 'config', 'server', 'users', 'mfa', 'login'])
      assert.match(help.stdout, new RegExp(`\\n {2}${name}\\b`));
    const offline = await runCli(['users', 'create', '--username', 'x', '--password', 'Xpass1234'], home.env);
    assert.equal(offline.status, 2, '`users` means the HTTP API; the offline form is a usage error');
    assert.match(
      offline.stderr,
      /^latchkey: .*'latchkey server create-user --username NAME' \(it asks for the password, or reads it with --password-stdin\)\n$/,
    );
    home.cleanup();
  });
});

describe('latchkey config', () => {
  before(() => ensureBuilt());

  test('shows the values in effect and where each came from, secrets hidden', () => {
    const run = spawnSync(process.execPath, [builtBin(), 'config', '--json'], {
      encoding: 'utf8',
      env: {
        PATH: process.env.PATH ?? '',
        LATCHKEY_PORT: '18600',
        LATCHKEY_METRICS_TOKEN: 'metrics-secret-1',
        LATCHKEY_DATABASE_URL: 'postgres://latchkey:db-secret-2@db.example/latchkey',
      },
    });
    assert.equal(run.status, 0, run.stderr);
    assert.ok(!run.stdout.includes('secret-'), 'no secret is printed');
    const settings = new Map(
      (JSON.parse(run.stdout) as { name: string; value: unknown; source: string }[]).map((s) => [s.name, s]),
    );
    assert.deepEqual(settings.get('LATCHKEY_PORT'), {
      ...settings.get('LATCHKEY_PORT'),
      value: '18600',
      source: 'environment',
    });
    assert.equal(settings.get('LATCHKEY_HOST')?.source, 'default');
    assert.equal(settings.get('LATCHKEY_METRICS_TOKEN')?.value, '(set, hidden)');
    assert.equal(
      settings.get('LATCHKEY_DATABASE_URL')?.value,
      'postgres://latchkey:****@db.example/latchkey',
    );
  });

  test('refuses a bad setting by name, as the server would', () => {
    const run = spawnSync(process.execPath, [builtBin(), 'config'], {
      encoding: 'utf8',
      env: { PATH: process.env.PATH ?? '', LATCHKEY_PORT: 'eighty' },
    });
    assert.equal(run.status, 2);
    assert.match(run.stderr, /^latchkey: configuration error: LATCHKEY_PORT: expected an integer/);
  });
});
