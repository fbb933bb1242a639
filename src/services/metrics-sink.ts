import type { FactorType } from '../core/factor-type.js';

/**
 * What the domain reports for operators to count and alert on, without knowing how it is
 * exposed: src/http/metrics.ts implements it over prom-client. Labels are bounded sets (a
 * provider name, a factor), never a user, a number or a code.
 */
export interface MetricsSink {
  /** A text message the provider accepted (`sent`) or did not (`failed`). */
  smsDelivery(provider: string, outcome: 'sent' | 'failed'): void;
  /**
   * A rate limit held something back: `login_failures`, a request refused with 429 for its
   * source's failures; `sms_limit`, a text message not sent (429, except in a login, whose
   * challenge then comes without it).
   */
  throttled(reason: 'sms_limit' | 'login_failures'): void;
  /** A user became locked out: of MFA login by wrong passcodes, or of password login. */
  lockout(kind: 'mfa' | 'password'): void;
  /** Step 1 of a two-step login ended in an OS-MF challenge. */
  mfaChallenge(factor: FactorType): void;
  /** Step 2 succeeded: a token was issued after the challenge. */
  mfaCompletion(factor: FactorType): void;
}
