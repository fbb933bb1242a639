import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, test } from 'node:test';

/** `latchkey server create-user` never takes the password as an argument (`ps`, shell history). */
const ROOT = path.resolve(import.meta.dirname, '..');

describe('server create-user and the password', () => {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'latchkey-create-user-'));
  after(() => fs.rmSync(dataDir, { recursive: true, force: true }));

  const createUser = (args: string[], input?: string) =>
    spawnSync(
      process.execPath,
      ['--import', 'tsx', 'src/cli/main.ts', 'server', 'create-user', '--username', 'ops', ...args],
      {
        cwd: ROOT,
        env: { PATH: process.env.PATH, LATCHKEY_DATA_DIR: dataDir, LATCHKEY_LOG_LEVEL: 'error' },
        encoding: 'utf8',
        // A pipe, not a terminal: there is nobody to prompt.
        input: input ?? '',
      },
    );

  test('regression: --password put the password in ps and shell history; now it is refused, pointing to --password-stdin', () => {
    const refused = createUser(['--password', 'Opspass12']);
    assert.equal(refused.status, 2, refused.stderr);
    assert.match(refused.stderr, /--password-stdin/);
    assert.match(refused.stderr, /asked for it/);
    assert.doesNotMatch(refused.stderr, /Opspass12/, 'the password is not echoed');
    assert.equal(refused.stdout, '');
  });

  test('without a terminal and without --password-stdin it says how to pass the password', () => {
    const refused = createUser([]);
    assert.equal(refused.status, 2, refused.stderr);
    assert.match(refused.stderr, /no terminal to ask for the password: pipe it to --password-stdin/);
  });

  test('--password-stdin reads the first line of standard input, and the user is created once', () => {
    const created = createUser(['--password-stdin'], 'Opspass12\nignored\n');
    assert.equal(created.status, 0, created.stderr);
    assert.match(created.stdout, /created identity:admin 'ops'/);
    const again = createUser(['--password-stdin'], 'Opspass12\n');
    assert.notEqual(again.status, 0);
    assert.match(again.stderr, /already exists/);
  });

  test('a weak password from standard input is refused before anything is written', () => {
    const weak = spawnSync(
      process.execPath,
      [
        '--import',
        'tsx',
        'src/cli/main.ts',
        'server',
        'create-user',
        '--username',
        'weak',
        '--password-stdin',
      ],
      {
        cwd: ROOT,
        env: { PATH: process.env.PATH, LATCHKEY_DATA_DIR: dataDir, LATCHKEY_LOG_LEVEL: 'error' },
        encoding: 'utf8',
        input: 'short\n',
      },
    );
    assert.notEqual(weak.status, 0);
    assert.doesNotMatch(weak.stdout, /created/);
  });
});
