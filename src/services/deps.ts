import type { Logger } from 'pino';
import type { Config } from '../config/config.js';
import type { Clock } from '../core/clock.js';
import type { KeyRing } from '../crypto/key-ring.js';
import type { PasswordHasher } from '../crypto/password-hasher.js';
import type { SmsSender } from '../notify/sms-sender.js';
import type { Store } from '../store/connect.js';
import type { Db } from '../store/schema.js';
import type { WindowCounter } from '../store/window-counter.js';
import type { MetricsSink } from './metrics-sink.js';

/** Everything the domain code needs, built once by main.ts (or a test) and passed down. */
export interface Deps {
  config: Config;
  store: Store;
  db: Db;
  /** Counters shared by every instance (per-source login failures): the database or Redis. */
  counters: WindowCounter;
  clock: Clock;
  keys: KeyRing;
  passwords: PasswordHasher;
  sms: SmsSender;
  log: Logger;
  /** Counts operators alert on (SMS outcomes, lockouts, MFA steps); exposed by /metrics. */
  metrics: MetricsSink;
  /** Service catalog template: JSON with {tenantId} placeholders (LATCHKEY_CATALOG_FILE). */
  catalog: unknown[];
}

/** Who is making a request, and from where: every audited change names both. */
export interface Actor {
  userId: string | null;
  source: string | null;
}
