import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { sql } from 'kysely';
import ts from 'typescript';
import { issueToken } from '../src/access/tokens.js';
import { recordEvent } from '../src/events/events.js';
import { bypassHash, consumeBypassCode } from '../src/factors/bypass-codes/bypass-codes.js';
import { consumeOneTimeCode, storeOneTimeCode } from '../src/factors/one-time-codes.js';
import { insertUser } from '../src/identity/users.js';
import { reservePasscodeAttempt } from '../src/lockout/attempts.js';
import { pruneExpired } from '../src/server/housekeeping.js';
import { migrateToLatest } from '../src/store/connect.js';
import { isUniqueViolation } from '../src/store/dialect-differences.js';
import { createTestEnv, dialects, PASSWORD, type TestEnv, uniqueName } from './support/harness.js';

/** Written once, run on every dialect: what the domain code relies on from the store. */
for (const dialect of dialects()) {
  describe(`storage (${dialect})`, () => {
    let env: TestEnv;
    before(async () => {
      env = await createTestEnv({ dialect });
    });
    after(() => env.close());

    const newUser = () =>
      insertUser(
        env.deps,
        { userId: null, source: 'test' },
        {
          username: uniqueName('store'),
          password: PASSWORD,
          role: 'identity:admin',
          domainId: null,
          defaultRegion: '',
        },
      );

    const storedUser = (id: string) =>
      env.deps.db.selectFrom('users').selectAll().where('id', '=', id).executeTakeFirstOrThrow();

    test('migrations are applied once; running them again changes nothing', async () => {
      assert.deepEqual(await migrateToLatest(env.deps.store), []);
    });

    test('times come back as epoch-millisecond numbers and flags as 0/1 numbers', async () => {
      const user = await newUser();
      const row = await storedUser(user.id);
      assert.equal(typeof row.created_at, 'number');
      assert.equal(row.created_at, env.clock.now());
      assert.equal(row.enabled, 1);
      assert.equal(row.mfa_enabled, 0);
      const token = await issueToken(env.deps, env.deps.db, row, ['PASSWORD']);
      const stored = await env.deps.db
        .selectFrom('tokens')
        .selectAll()
        .where('user_id', '=', user.id)
        .executeTakeFirstOrThrow();
      assert.equal(stored.expires_at, token.expiresAt);
      assert.equal(typeof stored.expires_at, 'number');
    });

    test('a row lock is written once: it locks on PostgreSQL and is left out on SQLite', async () => {
      const user = await newUser();
      const locked = await env.deps.db.transaction().execute(async (trx) => {
        const forUpdate = trx.selectFrom('users').select('username').where('id', '=', user.id).forUpdate();
        const forShare = trx.selectFrom('domains').select('id').forShare();
        assert.equal(/ for update$/.test(forUpdate.compile().sql), env.dialect === 'postgres');
        assert.equal(/ for share$/.test(forShare.compile().sql), env.dialect === 'postgres');
        await forShare.execute();
        return forUpdate.executeTakeFirst();
      });
      assert.equal(locked?.username, user.username);
    });

    test('a unique violation is told from other refusals of the database', async () => {
      const user = await newUser();
      const row = await storedUser(user.id);
      const refusal = async (insert: Promise<unknown>): Promise<unknown> => {
        try {
          await insert;
        } catch (error) {
          return error;
        }
        assert.fail('the database accepted the insert');
      };
      const samePrimaryKey = await refusal(env.deps.db.insertInto('users').values(row).execute());
      assert.equal(isUniqueViolation(samePrimaryKey), true);
      const sameUsername = await refusal(
        env.deps.db
          .insertInto('users')
          .values({ ...row, id: uniqueName('u').slice(0, 32) })
          .execute(),
      );
      assert.equal(isUniqueViolation(sameUsername), true);
      const missingColumns = await refusal(
        sql`insert into users (id) values (${uniqueName('v').slice(0, 32)})`.execute(env.deps.db),
      );
      assert.equal(isUniqueViolation(missingColumns), false);
      assert.equal(isUniqueViolation(new Error('connection reset')), false);
      assert.equal(isUniqueViolation(undefined), false);
    });

    test('usernames are unique whatever their case', async () => {
      const user = await newUser();
      await assert.rejects(
        insertUser(
          env.deps,
          { userId: null, source: 'test' },
          {
            username: user.username.toUpperCase(),
            password: PASSWORD,
            role: 'identity:admin',
            domainId: null,
            defaultRegion: '',
          },
        ),
        (error: Error & { status?: number }) => error.status === 409,
      );
    });

    test('deleting a user takes its tokens, devices and codes with it', async () => {
      const user = await newUser();
      await issueToken(env.deps, env.deps.db, user, ['PASSWORD']);
      await env.deps.db
        .insertInto('otp_devices')
        .values({
          id: 'd'.repeat(32),
          user_id: user.id,
          name: 'x',
          secret_enc: 'x',
          verified: 0,
          created_at: 0,
        })
        .execute();
      await storeOneTimeCode(
        env.deps,
        env.deps.db,
        user.id,
        'temporary',
        '12345678',
        env.clock.now() + 60_000,
      );
      await env.deps.db.deleteFrom('users').where('id', '=', user.id).execute();
      for (const table of ['tokens', 'otp_devices', 'one_time_codes'] as const) {
        const rows = await env.deps.db
          .selectFrom(table)
          .select('user_id')
          .where('user_id', '=', user.id)
          .execute();
        assert.equal(rows.length, 0, table);
      }
    });

    test('housekeeping drops security events past the retention period and keeps the rest', async () => {
      const day = 24 * 60 * 60_000;
      const retention = env.deps.config.eventsRetentionDays;
      await recordEvent(env.deps.db, env.clock.now() - (retention + 1) * day, {
        type: 'user.updated',
        userId: 'old',
      });
      await recordEvent(env.deps.db, env.clock.now() - (retention - 1) * day, {
        type: 'user.updated',
        userId: 'recent',
      });
      await pruneExpired(env.deps);
      const left = await env.deps.db
        .selectFrom('security_events')
        .select('user_id')
        .where('user_id', 'in', ['old', 'recent'])
        .execute();
      assert.deepEqual(
        left.map((row) => row.user_id),
        ['recent'],
      );
    });

    test('60 concurrent attempt reservations grant exactly the threshold', async () => {
      const user = await newUser();
      const results = await Promise.all(
        Array.from({ length: 60 }, () => reservePasscodeAttempt(env.deps, user.id)),
      );
      const granted = results.filter((count) => count !== undefined);
      assert.equal(granted.length, env.deps.config.lockoutThreshold);
      assert.deepEqual(
        [...granted].sort((a, b) => (a ?? 0) - (b ?? 0)),
        Array.from({ length: env.deps.config.lockoutThreshold }, (_, index) => index + 1),
      );
    });

    test('a one-time code and a bypass code are each consumed once under concurrent use', async () => {
      const user = await newUser();
      await storeOneTimeCode(
        env.deps,
        env.deps.db,
        user.id,
        'temporary',
        '87654321',
        env.clock.now() + 60_000,
      );
      const codeWins = await Promise.all(
        Array.from({ length: 10 }, () => consumeOneTimeCode(env.deps, user.id, 'temporary', '87654321')),
      );
      assert.equal(codeWins.filter(Boolean).length, 1);

      await env.deps.db
        .insertInto('bypass_codes')
        .values({
          user_id: user.id,
          code_hash: bypassHash(env.deps, user.id, '11223344'),
          expires_at: null,
          used_at: null,
          created_at: 0,
        })
        .execute();
      const bypassWins = await Promise.all(
        Array.from({ length: 10 }, () => consumeBypassCode(env.deps, user.id, '11223344')),
      );
      assert.equal(bypassWins.filter(Boolean).length, 1);
    });
  });
}

/**
 * The store is the one place that knows which database it runs on (src/store/dialect-differences.ts
 * holds what differs); the server's wiring opens it and explains its connection failures. Any
 * other file that reads the dialect, names a driver or compares with a dialect's name is asking
 * a question the store should answer. Comments and prose in longer strings (metric help texts,
 * examples) are not code that asks, so only identifiers and whole string literals count.
 */
test('no code outside the store and the server wiring asks which dialect it runs on', () => {
  const SRC = path.resolve('src');
  const allowed = ['store', 'server'].map((folder) => path.join(SRC, folder) + path.sep);
  const dialectWord = /dialect|postgres|sqlite/i;
  const dialectName = new Set(['postgres', 'postgresql', 'sqlite', 'sqlite3', 'pg', 'better-sqlite3']);
  const files = (readdirSync(SRC, { recursive: true, encoding: 'utf8' }) as string[])
    .filter((file) => /\.tsx?$/.test(file))
    .map((file) => path.join(SRC, file))
    .filter((file) => !allowed.some((folder) => file.startsWith(folder)));
  assert.ok(files.length > 50, 'the walk found the source files');
  const found: string[] = [];
  for (const file of files) {
    const source = ts.createSourceFile(file, readFileSync(file, 'utf8'), ts.ScriptTarget.Latest, true);
    const visit = (node: ts.Node): void => {
      const named =
        (ts.isIdentifier(node) && dialectWord.test(node.text)) ||
        ((ts.isStringLiteral(node) || ts.isNoSubstitutionTemplateLiteral(node)) &&
          dialectName.has(node.text.toLowerCase()));
      if (named) {
        const { line } = source.getLineAndCharacterOfPosition(node.getStart(source));
        found.push(`${path.relative(SRC, file)}:${line + 1}: ${node.getText(source)}`);
      }
      ts.forEachChild(node, visit);
    };
    visit(source);
  }
  assert.deepEqual(found, [], 'ask the store (src/store/dialect-differences.ts) instead');
});
