import type { FactorType } from './policy/enforcement.js';

/**
 * What the domain reports for operators to count and alert on, without knowing how it is
 * exposed: src/http/metrics.ts implements it over prom-client. Labels are bounded sets (a
 * provider name, a factor), never a user, a number or a code.
 */
export interface MetricsSink {
  /** A text message the provider accepted (`sent`) or did not (`failed`). */
  smsDelivery(provider: string, outcome: 'sent' | 'failed'): void;
  /** A request refused (429) by a rate limit, named by the limit. */
  throttled(reason: 'sms_limit'): void;
  /** A user's MFA login became locked by consecutive wrong passcodes. */
  lockout(kind: 'mfa'): void;
  /** Step 1 of a two-step login ended in an OS-MF challenge. */
  mfaChallenge(factor: FactorType): void;
  /** Step 2 succeeded: a token was issued after the challenge. */
  mfaCompletion(factor: FactorType): void;
}
