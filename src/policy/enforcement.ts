import type { AuthMethod, TokenScope } from '../access/tokens.js';

export type DomainEnforcementLevel = 'OPTIONAL' | 'REQUIRED';
export type UserEnforcementLevel = 'DEFAULT' | 'OPTIONAL' | 'REQUIRED';
/**
 * What an account owner chooses: the two wire levels, or ours, passkeys or security keys only
 * (REQUIRED on the wire, with `passkeys_only` set on the account).
 */
export type AccountMfaPolicy = DomainEnforcementLevel | 'PASSKEYS_ONLY';

export function accountPolicyOf(domain: {
  mfa_enforcement: string;
  passkeys_only: number;
}): AccountMfaPolicy {
  if (domain.mfa_enforcement !== 'REQUIRED') return 'OPTIONAL';
  return domain.passkeys_only === 1 ? 'PASSKEYS_ONLY' : 'REQUIRED';
}

/**
 * Whether an account that requires passkeys binds this user: everyone the account's requirement
 * binds (a user-level OPTIONAL is exempt from the account's requirement, and so from this one).
 */
export function passkeysOnlyBinds(userLevel: string | null, domainPasskeysOnly: boolean): boolean {
  return domainPasskeysOnly && mfaRequired(userLevel, 'REQUIRED');
}

import type { FactorType, MultiFactorMethod } from '../core/factor-type.js';

export type { FactorType, MultiFactorMethod };

/**
 * Whether a user without MFA must set it up (reference §4.6): the user's own level wins unless
 * it is DEFAULT (or unset), in which case the domain decides.
 */
export function mfaRequired(userLevel: string | null, domainLevel: string | null): boolean {
  if (userLevel === 'REQUIRED') return true;
  if (userLevel === 'OPTIONAL') return false;
  return domainLevel === 'REQUIRED';
}

export interface PolicySubject {
  mfaEnabled: boolean;
  factorType: MultiFactorMethod | null;
  userLevel: string | null;
  domainLevel: string | null;
}

export type LoginDecision =
  | { kind: 'issue'; authenticatedBy: AuthMethod[]; scope: TokenScope | null }
  | { kind: 'challenge'; factor: MultiFactorMethod }
  | { kind: 'must-set-up-mfa' }
  | { kind: 'scope-not-supported' };

/**
 * Are the methods completed enough for this user? The one place that decides; API keys pass
 * because an APIKEY login is enough here, not because a route skips the check (reference §4.2).
 */
export function decideLogin(
  methods: AuthMethod[],
  subject: PolicySubject,
  scope: TokenScope | null,
): LoginDecision {
  const secondFactor = methods.find(
    (method) => method === 'PASSCODE' || method === 'OTPPASSCODE' || method === 'PASSKEY',
  );
  if (methods.includes('APIKEY')) {
    return scope
      ? { kind: 'scope-not-supported' }
      : { kind: 'issue', authenticatedBy: ['APIKEY'], scope: null };
  }
  // A passkey with user verification alone: possession plus the device's own check, so it
  // counts as multi-factor (the sign-in with a passkey, no password).
  if (methods.length === 1 && methods[0] === 'PASSKEY') {
    return scope
      ? { kind: 'scope-not-supported' }
      : { kind: 'issue', authenticatedBy: ['PASSKEY'], scope: null };
  }
  if (secondFactor && methods.includes('PASSWORD')) {
    return scope
      ? { kind: 'scope-not-supported' }
      : { kind: 'issue', authenticatedBy: [secondFactor, 'PASSWORD'], scope: null };
  }
  if (!methods.includes('PASSWORD')) return { kind: 'scope-not-supported' };
  if (subject.mfaEnabled && subject.factorType) {
    return scope ? { kind: 'scope-not-supported' } : { kind: 'challenge', factor: subject.factorType };
  }
  const required = mfaRequired(subject.userLevel, subject.domainLevel);
  if (scope === 'SETUP-MFA') {
    return required
      ? { kind: 'issue', authenticatedBy: ['PASSWORD'], scope }
      : { kind: 'scope-not-supported' };
  }
  if (required) return { kind: 'must-set-up-mfa' };
  return { kind: 'issue', authenticatedBy: ['PASSWORD'], scope: null };
}

/** The passcode method a factor reports in authenticatedBy (a bypass code reports the factor too). */
export function passcodeMethod(factor: FactorType): AuthMethod {
  return factor === 'OTP' ? 'OTPPASSCODE' : 'PASSCODE';
}
