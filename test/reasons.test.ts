import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, mock, test } from 'node:test';
import { Messages } from '../src/core/errors.js';
import {
  createAccount,
  createTestEnv,
  passwordLogin,
  type TestEnv,
  type TestUser,
} from './support/harness.js';
import { enableOtp } from './support/mfa.js';
import { PanelClient } from './support/panel-client.js';

/** Comparisons of message text: an outcome decided by them breaks when a message is reworded. */
const MESSAGE_COMPARISONS = [
  /\.message\s*[!=]==?/,
  /[!=]==?\s*[\w.]*\.message\b/,
  /\.message\.(startsWith|endsWith|includes|match)\(/,
  /\[\s*[\w.]*\.message\s*\]/,
  /\bMessages\.\w+\s*[!=]==?/,
  /[!=]==?\s*\w*Messages\.\w+/,
];

function sourceFiles(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) return sourceFiles(full);
    return /\.tsx?$/.test(entry.name) ? [full] : [];
  });
}

describe('surfaces decide outcomes by reason, never by message text', () => {
  test('no comparison of message text in src/panel or src/http', () => {
    const found: string[] = [];
    for (const file of ['src/panel', 'src/http'].flatMap((dir) => sourceFiles(dir))) {
      fs.readFileSync(file, 'utf8')
        .split('\n')
        .forEach((line, index) => {
          if (MESSAGE_COMPARISONS.some((pattern) => pattern.test(line)))
            found.push(`${file}:${index + 1}: ${line.trim()}`);
        });
    }
    assert.deepEqual(found, [], 'compare ApiError.reason instead');
  });

  test('the check catches the comparisons it is for', () => {
    for (const line of [
      'if (error.message === Messages.locked) return x;',
      'if (!(error instanceof ApiError) || error.message !== PhoneMessages.badPin) throw error;',
      'const text = NAME_ERRORS[error.message] ?? error.message;',
      'if (error.message.startsWith(MUST_SET_UP_MFA_PREFIX)) return;',
    ])
      assert.ok(
        MESSAGE_COMPARISONS.some((pattern) => pattern.test(line)),
        line,
      );
    assert.ok(
      !MESSAGE_COMPARISONS.some((pattern) => pattern.test("if (error.reason === 'locked') return x;")),
    );
  });
});

describe('a user who must set up MFA', () => {
  let env: TestEnv;
  let owner: TestUser;
  before(async () => {
    env = await createTestEnv();
    owner = await createAccount(env);
    await env.deps.db
      .updateTable('users')
      .set({ mfa_enforcement: 'REQUIRED' })
      .where('id', '=', owner.id)
      .execute();
  });
  after(() => env.close());

  const failedLogins = async (): Promise<number> => {
    const rows = await env.deps.db
      .selectFrom('security_events')
      .select('count')
      .where('type', '=', 'login.failed')
      .where('user_id', '=', owner.id)
      .execute();
    return rows.reduce((sum, row) => sum + row.count, 0);
  };

  test('signs in to the panel straight into the setup: the password judged once, no failed login recorded', async () => {
    const verify = mock.method(env.deps.passwords, 'verifyOrDummy');
    try {
      const client = new PanelClient(env);
      await client.get('/sign-in');
      const before = await failedLogins();
      const signedIn = await client.post('/sign-in', { username: owner.username, password: owner.password });
      assert.equal(signedIn.status, 303, signedIn.body);
      assert.equal(signedIn.headers.location, '/setup');
      assert.equal(verify.mock.callCount(), 1, 'one password check');
      assert.equal(await failedLogins(), before, 'no login.failed event');
      assert.equal((await client.get('/setup')).status, 200);
    } finally {
      verify.mock.restore();
    }
  });

  test('is refused over the API as before, and the refusal is recorded', async () => {
    const before = await failedLogins();
    const login = await passwordLogin(env, owner.username);
    assert.equal(login.status, 403);
    assert.equal(login.body.forbidden?.message, Messages.mustSetupMfa);
    assert.equal(await failedLogins(), before + 1);
  });
});

describe('the panel passcode step tells a wrong passcode from a spent sign-in by reason', () => {
  let env: TestEnv;
  let owner: TestUser;
  before(async () => {
    env = await createTestEnv();
    owner = await createAccount(env);
    await enableOtp(env, owner);
  });
  after(() => env.close());

  test('a wrong passcode asks again; the same sign-in, spent elsewhere, starts over', async () => {
    const client = new PanelClient(env);
    await client.get('/sign-in');
    const signedIn = await client.post('/sign-in', { username: owner.username, password: owner.password });
    assert.equal(signedIn.headers.location, '/sign-in/passcode');
    await client.get('/sign-in/passcode');

    // Eight digits: no authenticator code, and no bypass or temporary code of this user.
    const wrong = await client.post('/sign-in/passcode', { passcode: '99999999' });
    assert.equal(wrong.status, 401);
    assert.match(wrong.body, /The passcode is incorrect or has expired/);

    // Both answer 401 with the same message over the API; the reason sends this one back.
    await env.deps.db
      .updateTable('mfa_sessions')
      .set({ consumed_at: env.clock.now() })
      .where('user_id', '=', owner.id)
      .execute();
    const spent = await client.post('/sign-in/passcode', { passcode: '99999999' });
    assert.equal(spent.status, 303);
    assert.equal(spent.headers.location, '/sign-in');
    assert.match((await client.get('/sign-in')).body, /Your passcode has expired/);
  });
});
