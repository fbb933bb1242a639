import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { decideLogin, mfaRequired, type PolicySubject } from '../src/policy/enforcement.js';

const subject = (overrides: Partial<PolicySubject> = {}): PolicySubject => ({
  mfaEnabled: false,
  factorType: null,
  userLevel: null,
  domainLevel: null,
  ...overrides,
});

describe('effective MFA requirement (user level over domain level)', () => {
  const cases: [string | null, string | null, boolean][] = [
    [null, null, false],
    [null, 'OPTIONAL', false],
    [null, 'REQUIRED', true],
    ['DEFAULT', 'OPTIONAL', false],
    ['DEFAULT', 'REQUIRED', true],
    ['OPTIONAL', 'REQUIRED', false],
    ['OPTIONAL', 'OPTIONAL', false],
    ['REQUIRED', 'OPTIONAL', true],
    ['REQUIRED', null, true],
  ];
  for (const [user, domain, expected] of cases) {
    test(`user ${user ?? 'unset'} in a ${domain ?? 'unset'} domain → ${expected ? 'required' : 'not required'}`, () => {
      assert.equal(mfaRequired(user, domain), expected);
    });
  }
});

describe('login decision', () => {
  test('an API key is enough even when MFA is required and not set up', () => {
    assert.deepEqual(decideLogin(['APIKEY'], subject({ domainLevel: 'REQUIRED' }), null), {
      kind: 'issue',
      authenticatedBy: ['APIKEY'],
      scope: null,
    });
  });
  test('a password alone is challenged for an MFA user, with the factor of the user', () => {
    assert.deepEqual(decideLogin(['PASSWORD'], subject({ mfaEnabled: true, factorType: 'OTP' }), null), {
      kind: 'challenge',
      factor: 'OTP',
    });
  });
  test('password plus passcode issues a token reporting the passcode first', () => {
    assert.deepEqual(
      decideLogin(['PASSCODE', 'PASSWORD'], subject({ mfaEnabled: true, factorType: 'SMS' }), null),
      {
        kind: 'issue',
        authenticatedBy: ['PASSCODE', 'PASSWORD'],
        scope: null,
      },
    );
  });
  test('a required user without MFA must set it up, or may ask for a SETUP-MFA token', () => {
    assert.deepEqual(decideLogin(['PASSWORD'], subject({ userLevel: 'REQUIRED' }), null), {
      kind: 'must-set-up-mfa',
    });
    assert.deepEqual(decideLogin(['PASSWORD'], subject({ userLevel: 'REQUIRED' }), 'SETUP-MFA'), {
      kind: 'issue',
      authenticatedBy: ['PASSWORD'],
      scope: 'SETUP-MFA',
    });
  });
  test('SETUP-MFA is refused when MFA is not required, when it is enabled, and with an API key', () => {
    assert.equal(decideLogin(['PASSWORD'], subject(), 'SETUP-MFA').kind, 'scope-not-supported');
    assert.equal(
      decideLogin(
        ['PASSWORD'],
        subject({ mfaEnabled: true, factorType: 'SMS', domainLevel: 'REQUIRED' }),
        'SETUP-MFA',
      ).kind,
      'scope-not-supported',
    );
    assert.equal(
      decideLogin(['APIKEY'], subject({ domainLevel: 'REQUIRED' }), 'SETUP-MFA').kind,
      'scope-not-supported',
    );
  });
});
