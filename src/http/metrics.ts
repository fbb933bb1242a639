import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import type { FactorType } from '../policy/enforcement.js';
import type { MetricsSink } from '../services/metrics-sink.js';
import type { PoolStats } from '../store/connect.js';

/**
 * Process metrics (CPU, memory, heap, event-loop lag, GC) describe the process, not an app, so
 * one registry per process collects them; every app's /metrics shows it beside its own.
 */
let processRegistry: Registry | undefined;
function processMetrics(): Registry {
  if (!processRegistry) {
    processRegistry = new Registry();
    collectDefaultMetrics({ register: processRegistry });
  }
  return processRegistry;
}

export interface MetricsOptions {
  /** The PostgreSQL pool's counts, read at each scrape; absent for SQLite. */
  pool?: () => PoolStats;
}

/** One registry per app instance, so tests that build several apps do not share counters. */
export class Metrics implements MetricsSink {
  readonly registry = new Registry();
  readonly requests = new Counter({
    name: 'latchkey_http_requests_total',
    help: 'HTTP requests by route, method and status.',
    labelNames: ['route', 'method', 'status'] as const,
    registers: [this.registry],
  });
  readonly latency = new Histogram({
    name: 'latchkey_http_request_duration_seconds',
    help: 'HTTP request latency by route, method and status.',
    labelNames: ['route', 'method', 'status'] as const,
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [this.registry],
  });
  readonly logins = new Counter({
    name: 'latchkey_logins_total',
    help: 'POST /v2.0/tokens and /v3/auth/tokens outcomes by credential method.',
    labelNames: ['method', 'outcome'] as const,
    registers: [this.registry],
  });
  private readonly throttles = new Counter({
    name: 'latchkey_throttled_requests_total',
    help: 'Rate limits applied, by limit (login_failures: 429; sms_limit: a text message not sent).',
    labelNames: ['reason'] as const,
    registers: [this.registry],
  });
  private readonly sms = new Counter({
    name: 'latchkey_sms_messages_total',
    help: 'Text messages by provider and outcome (sent: the provider accepted it; failed: it did not).',
    labelNames: ['provider', 'outcome'] as const,
    registers: [this.registry],
  });
  private readonly lockouts = new Counter({
    name: 'latchkey_lockouts_total',
    help: 'Users locked out by consecutive failures, by kind.',
    labelNames: ['kind'] as const,
    registers: [this.registry],
  });
  private readonly challenges = new Counter({
    name: 'latchkey_mfa_challenges_total',
    help: 'Two-step logins that ended step 1 with an OS-MF challenge, by factor.',
    labelNames: ['factor'] as const,
    registers: [this.registry],
  });
  private readonly completions = new Counter({
    name: 'latchkey_mfa_completions_total',
    help: 'Two-step logins completed (a token issued at step 2), by factor.',
    labelNames: ['factor'] as const,
    registers: [this.registry],
  });
  constructor(options: MetricsOptions = {}) {
    const { pool } = options;
    if (pool) {
      const registers = [this.registry];
      new Gauge({
        name: 'latchkey_db_pool_connections',
        help: 'PostgreSQL pool connections by state (in_use: lent to a query; idle: open, waiting for one).',
        labelNames: ['state'] as const,
        registers,
        collect() {
          const stats = pool();
          this.set({ state: 'in_use' }, stats.total - stats.idle);
          this.set({ state: 'idle' }, stats.idle);
        },
      });
      new Gauge({
        name: 'latchkey_db_pool_waiting_requests',
        help: 'Queries waiting for a PostgreSQL pool connection.',
        registers,
        collect() {
          this.set(pool().waiting);
        },
      });
      new Gauge({
        name: 'latchkey_db_pool_max_connections',
        help: 'Size limit of the PostgreSQL pool.',
        registers,
        collect() {
          this.set(pool().max);
        },
      });
    }
  }

  smsDelivery(provider: string, outcome: 'sent' | 'failed'): void {
    this.sms.inc({ provider, outcome });
  }

  throttled(reason: string): void {
    this.throttles.inc({ reason });
  }

  lockout(kind: 'mfa' | 'password'): void {
    this.lockouts.inc({ kind });
  }

  mfaChallenge(factor: FactorType): void {
    this.challenges.inc({ factor });
  }

  mfaCompletion(factor: FactorType): void {
    this.completions.inc({ factor });
  }

  /** The Prometheus text of this app's and the process's metrics. */
  async exposition(): Promise<{ contentType: string; text: string }> {
    const exposed = Registry.merge([processMetrics(), this.registry]);
    return { contentType: exposed.contentType, text: await exposed.metrics() };
  }
}
