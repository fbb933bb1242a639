import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { EVENT_TITLES, eventSummary } from '../src/events/describe.js';
import type { EventType } from '../src/events/events.js';
import { createAdmin, createTestEnv, dialects } from './support/harness.js';

/** A detail of each type as the code records it, and what a person reads. */
const EXAMPLES: [EventType, Record<string, unknown>, string][] = [
  [
    'login.succeeded',
    { authenticatedBy: ['OTPPASSCODE', 'PASSWORD'], scope: null },
    'With password and authenticator app.',
  ],
  [
    'login.succeeded',
    { authenticatedBy: ['PASSWORD'], scope: 'SETUP-MFA' },
    'With password; a token that can only set up multi-factor authentication.',
  ],
  [
    'login.failed',
    { method: 'PASSWORD', usernameHash: 'ab12' },
    'With password; for a username that does not exist.',
  ],
  [
    'login.failed',
    { method: 'PASSWORD', reason: 'password locked' },
    'With password; refused: the password is locked.',
  ],
  [
    'login.challenged',
    { factor: 'SMS', smsSent: false },
    'By text message (SMS); no text message sent: the limit was reached.',
  ],
  [
    'password.locked',
    { failedAttempts: 6, lockSeconds: 1800 },
    'After 6 wrong passwords; locked for 30 minutes.',
  ],
  [
    'mfa.unlocked',
    { wasLocked: false, failedAttempts: 0, passwordWasLocked: true },
    'Lifted the password lock.',
  ],
  ['tokens.revoked', { count: 2, reason: 'domain requires multi-factor', passwordOnly: true }, 'Tokens: 2'],
  [
    'domain.enforcement_changed',
    { from: 'OPTIONAL', to: 'REQUIRED', tokensRevoked: 3 },
    'From optional to required; 3 tokens logged out.',
  ],
  ['device.added', { kind: 'OTP', deviceId: 'x', name: 'work phone' }, 'Authenticator app work phone.'],
  ['user.updated', { fields: ['email', 'enabled'] }, 'Changed email and enabled.'],
];

describe('security events in plain language', () => {
  test('every type has a title, and details read as sentences without field names', () => {
    for (const title of Object.values(EVENT_TITLES)) assert.match(title, /^[A-Z][a-zA-Z ]/);
    for (const [type, detail, expected] of EXAMPLES) {
      const summary = eventSummary(type, detail);
      if (expected.startsWith('Tokens: ')) {
        assert.match(
          summary,
          /^2 tokens; because the account now requires multi-factor authentication; only those from a password alone/,
        );
      } else {
        assert.equal(summary, expected, type);
      }
      for (const key of Object.keys(detail))
        assert.ok(!summary.includes(`${key}:`), `${type}: ${key} is not shown raw`);
    }
    assert.equal(
      eventSummary('login.failed', { method: 'PASSWORD' }, 4),
      'With password; 4 times within a minute.',
    );
  });

  for (const dialect of dialects()) {
    test(`the API gives usernames, a title and a summary with each event (${dialect})`, async (t) => {
      const env = await createTestEnv({ dialect });
      t.after(() => env.close());
      const admin = await createAdmin(env);
      await env.request('POST', '/v2.0/tokens', {
        body: { auth: { passwordCredentials: { username: admin.username, password: 'wrong-Password1' } } },
      });
      const events = await env.request('GET', '/v2.0/RAX-AUTH/events?type=login.failed', {
        token: admin.token,
      });
      assert.equal(events.status, 200);
      const [failed] = (events.body as unknown as { events: Record<string, unknown>[] }).events;
      assert.equal(failed?.username, admin.username);
      assert.equal(failed?.actorUsername, admin.username);
      assert.equal(failed?.title, 'Login failed');
      assert.equal(failed?.summary, 'With password.');
    });
  }
});
