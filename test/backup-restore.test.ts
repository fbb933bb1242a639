import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import pg from 'pg';
import {
  createAccount,
  createTestEnv,
  createUserVia,
  passwordLogin,
  type TestEnv,
} from './support/harness.js';
import { assertEverySecretWorks, secretHolder } from './support/secrets.js';
import { requireTool } from './support/tools.js';

/**
 * The backups of docs/deployment.md, taken from a running server and restored: every secret
 * made before the backup works on the restored database (with the same LATCHKEY_SECRET_KEYS),
 * and what was made after it is not there.
 */
const PG_URL = process.env.LATCHKEY_TEST_DATABASE_URL;

function run(command: string, args: string[]): void {
  const result = spawnSync(command, args, { encoding: 'utf8' });
  assert.equal(result.status, 0, `${command} ${args.join(' ')}:\n${result.stdout}${result.stderr}`);
}

/** What a backup must bring back, made on `env`; and a user made after the backup. */
async function fillThenBackUp(env: TestEnv, backUp: () => void) {
  const owner = await createAccount(env);
  const holder = await secretHolder(env, owner);
  backUp();
  const later = await createUserVia(env, owner, 'later');
  return { owner, holder, later };
}

/** `restored` runs on the live server's clock, so the tokens made before the backup are live. */
async function assertRestored(restored: TestEnv, made: Awaited<ReturnType<typeof fillThenBackUp>>) {
  await assertEverySecretWorks(restored, made.holder);
  assert.equal((await passwordLogin(restored, made.owner.username)).status, 200);
  assert.equal((await passwordLogin(restored, made.later.username)).status, 401, 'made after the backup');
}

describe('backups', () => {
  const dirs: string[] = [];
  const tempDir = () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'latchkey-backup-'));
    dirs.push(dir);
    return dir;
  };
  after(() => {
    for (const dir of dirs) fs.rmSync(dir, { recursive: true, force: true });
  });

  test("SQLite: sqlite3's online .backup of a running server restores", {
    skip: requireTool('sqlite3'),
  }, async () => {
    const live = await createTestEnv({ dialect: 'sqlite' });
    const backupFile = path.join(tempDir(), 'latchkey-backup.db');
    const database = live.database.url.slice('sqlite:'.length);
    let made: Awaited<ReturnType<typeof fillThenBackUp>>;
    try {
      made = await fillThenBackUp(live, () => run('sqlite3', [database, `.backup '${backupFile}'`]));
    } finally {
      await live.close();
    }
    // Restore: the backup file becomes the database of a server that is not running yet.
    const restoredDir = tempDir();
    fs.copyFileSync(backupFile, path.join(restoredDir, 'latchkey.db'));
    const restored = await createTestEnv({
      databaseUrl: `sqlite:${path.join(restoredDir, 'latchkey.db')}`,
      clock: live.clock,
    });
    try {
      await assertRestored(restored, made);
    } finally {
      await restored.close();
    }
  });

  test('PostgreSQL: pg_dump of a running server, pg_restore into a new database', {
    skip: PG_URL ? false : 'LATCHKEY_TEST_DATABASE_URL is not set',
  }, async () => {
    const admin = new pg.Client({ connectionString: PG_URL });
    await admin.connect();
    const suffix = randomBytes(5).toString('hex');
    const names = [`latchkey_live_${suffix}`, `latchkey_restored_${suffix}`];
    const urlOf = (name: string) => {
      const url = new URL(PG_URL ?? '');
      url.pathname = `/${name}`;
      return url.toString();
    };
    try {
      for (const name of names) await admin.query(`create database ${name}`);
      const [liveUrl, restoredUrl] = names.map(urlOf) as [string, string];
      const dump = path.join(tempDir(), 'latchkey.dump');
      const live = await createTestEnv({ databaseUrl: liveUrl });
      let made: Awaited<ReturnType<typeof fillThenBackUp>>;
      try {
        made = await fillThenBackUp(live, () =>
          run('pg_dump', ['--format=custom', `--file=${dump}`, liveUrl]),
        );
      } finally {
        await live.close();
      }
      run('pg_restore', ['--no-owner', `--dbname=${restoredUrl}`, dump]);
      const restored = await createTestEnv({ databaseUrl: restoredUrl, clock: live.clock });
      try {
        await assertRestored(restored, made);
      } finally {
        await restored.close();
      }
    } finally {
      for (const name of names) await admin.query(`drop database if exists ${name} with (force)`);
      await admin.end();
    }
  });
});
