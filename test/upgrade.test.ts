import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, test } from 'node:test';
import { Migrator } from 'kysely/migration';
import { ManualClock } from '../src/core/clock.js';
import { connect } from '../src/store/connect.js';
import { migrations } from '../src/store/migrations/index.js';
import { fills, HISTORY } from './fixtures/schema-history.js';
import { accessOf, apiKeyLogin, apiKeyPath } from './support/api.js';
import {
  createTestEnv,
  dialects,
  freshPostgresSchema,
  parseChallenge,
  passwordLogin,
} from './support/harness.js';
import { lastSmsPasscode, sendPasscode, totpAt } from './support/mfa.js';

/** When the old version wrote its rows; the upgraded server starts a minute later. */
const WRITTEN_AT = Date.UTC(2026, 11, 1, 12, 0, 0);
const names = Object.keys(migrations);

/** A database migrated up to `name` with the migrations of the time, then filled as it was then. */
async function databaseAt(
  dialect: 'sqlite' | 'postgres',
  name: string,
): Promise<{ url: string; schema: string | undefined; remove(): Promise<void> }> {
  let url: string;
  let schema: string | undefined;
  let remove: () => Promise<void>;
  if (dialect === 'postgres') {
    const fresh = await freshPostgresSchema();
    ({ url, schema } = fresh);
    remove = fresh.drop;
  } else {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'latchkey-upgrade-'));
    url = `sqlite:${path.join(dir, 'latchkey.db')}`;
    remove = async () => fs.rmSync(dir, { recursive: true, force: true });
  }
  const store = connect(url, schema ? { schema } : {});
  try {
    const upTo = Object.fromEntries(Object.entries(migrations).slice(0, names.indexOf(name) + 1));
    const { error } = await new Migrator({
      db: store.db,
      provider: { getMigrations: async () => upTo },
      ...(schema ? { migrationTableSchema: schema } : {}),
    }).migrateToLatest();
    if (error) throw error;
    const fill = fills[name];
    if (!fill) throw new Error(`no fill for ${name}`);
    await fill(store.db as never, WRITTEN_AT);
  } finally {
    await store.close();
  }
  return { url, schema, remove };
}

test('every migration has a fill in test/fixtures/schema-history.ts, in the same order', () => {
  assert.deepEqual(Object.keys(fills), names);
});

for (const dialect of dialects()) {
  describe(`upgrading a database filled at each older version (${dialect})`, () => {
    for (const [index, name] of names.entries()) {
      const hasMultiFactor = index >= names.indexOf('2026-11-22-multi-factor');
      const hasHardening = index >= names.indexOf('2026-11-30-hardening');

      test(`from ${name}: every login, secret, token and setting still works`, async () => {
        const database = await databaseAt(dialect, name);
        const env = await createTestEnv({
          databaseUrl: database.url,
          ...(database.schema ? { schema: database.schema } : {}),
          clock: new ManualClock(WRITTEN_AT + 60_000),
        });
        try {
          const { users, tokens, apiKeys } = HISTORY;
          const ready = await env.request('GET', '/health/ready');
          assert.equal(ready.status, 200, `every migration ran: ${ready.text}`);

          // Tokens issued before the upgrade: live ones validate, expired and revoked ones do not.
          const validate = (id: string) => env.request('GET', `/v2.0/tokens/${id}`, { token: tokens.admin });
          assert.equal(accessOf(await validate(tokens.owner)).user.id, users.owner.id);
          assert.equal((await validate(tokens.ownerExpired)).status, 404);
          assert.equal((await validate(tokens.ownerRevoked)).status, 404);

          // Passwords hashed with the old argon2id parameters log in, and are rehashed on the way.
          for (const user of [users.admin, users.owner, users.exempt]) {
            assert.equal(
              (await passwordLogin(env, user.username, HISTORY.password)).status,
              200,
              user.username,
            );
          }
          const rehashed = await env.deps.db
            .selectFrom('users')
            .select('password_hash')
            .where('id', '=', users.owner.id)
            .executeTakeFirstOrThrow();
          assert.match(rehashed.password_hash ?? '', /^\$argon2id\$v=19\$m=1024,t=1,p=1\$/);
          assert.equal((await passwordLogin(env, users.owner.username, HISTORY.password)).status, 200);

          // The API key logs in and reads back unchanged, through the token of before.
          assert.deepEqual(
            accessOf(await apiKeyLogin(env, users.owner.username, apiKeys.owner)).token[
              'RAX-AUTH:authenticatedBy'
            ],
            ['APIKEY'],
          );
          const readBack = await env.request('GET', apiKeyPath(users.owner.id), { token: tokens.owner });
          assert.equal(
            (readBack.body['RAX-KSKEY:apiKeyCredentials'] as { apiKey: string } | undefined)?.apiKey,
            apiKeys.owner,
            readBack.text,
          );

          // The domain's REQUIRED enforcement holds; the user-level OPTIONAL beside it too (above).
          assert.equal((await passwordLogin(env, users.strict.username, HISTORY.password)).status, 403);
          const setup = await env.request('POST', '/v2.0/tokens', {
            body: {
              auth: {
                passwordCredentials: { username: users.strict.username, password: HISTORY.password },
                'RAX-AUTH:scope': 'SETUP-MFA',
              },
            },
          });
          assert.equal(setup.status, 200, setup.text);
          const ownDevices = await env.request(
            'GET',
            `/v2.0/users/${users.strict.id}/RAX-AUTH/multi-factor/otp-devices`,
            {
              token: tokens.strictSetup,
            },
          );
          assert.equal(
            ownDevices.status,
            200,
            `the old SETUP-MFA token opens the user's own MFA: ${ownDevices.text}`,
          );

          // The events of before are listed.
          const events = await env.request('GET', `/v2.0/RAX-AUTH/events?userId=${users.owner.id}`, {
            token: tokens.admin,
          });
          assert.equal(events.status, 200, events.text);
          const details = (events.body.events as unknown as { detail: { reason?: string } }[]).map(
            (event) => event.detail.reason,
          );
          assert.ok(details.includes('history: wrong password'), events.text);

          if (hasMultiFactor) {
            const { secret } = HISTORY.otpDevice;
            // A login half done when the upgrade happened completes with the authenticator.
            const inFlight = await sendPasscode(env, HISTORY.mfaSession, totpAt(secret, env.clock.now()));
            assert.deepEqual(accessOf(inFlight).token['RAX-AUTH:authenticatedBy'], [
              'OTPPASSCODE',
              'PASSWORD',
            ]);
            env.clock.advance(30_000);

            const otpStep = async () => {
              const challenge = await passwordLogin(env, users.otp.username, HISTORY.password);
              assert.equal(challenge.status, 401, challenge.text);
              return parseChallenge(challenge);
            };
            const { sessionId, factor } = await otpStep();
            assert.equal(factor, 'OTPPASSCODE');
            const byTotp = await sendPasscode(env, sessionId, totpAt(secret, env.clock.now()));
            assert.deepEqual(accessOf(byTotp).token['RAX-AUTH:authenticatedBy'], ['OTPPASSCODE', 'PASSWORD']);
            assert.equal(
              accessOf(await apiKeyLogin(env, users.otp.username, apiKeys.otp)).user.id,
              users.otp.id,
            );

            for (const code of [HISTORY.bypassCodes.forever, HISTORY.bypassCodes.weekLong]) {
              assert.equal((await sendPasscode(env, (await otpStep()).sessionId, code)).status, 200, code);
            }
            const used = await sendPasscode(env, (await otpStep()).sessionId, HISTORY.bypassCodes.used);
            assert.equal(used.status, 401, 'a code used before the upgrade stays used');

            const smsChallenge = await passwordLogin(env, users.sms.username, HISTORY.password);
            assert.equal(parseChallenge(smsChallenge).factor, 'PASSCODE');
            const bySms = await sendPasscode(
              env,
              parseChallenge(smsChallenge).sessionId,
              lastSmsPasscode(env, HISTORY.phone.number),
            );
            assert.deepEqual(accessOf(bySms).token['RAX-AUTH:authenticatedBy'], ['PASSCODE', 'PASSWORD']);
          }

          if (hasHardening) {
            const locked = await passwordLogin(env, users.locked.username, HISTORY.password);
            assert.notEqual(locked.status, 200, 'six wrong passwords before the upgrade still lock');
          }
        } finally {
          await env.close();
          await database.remove();
        }
      });
    }
  });
}
