import { Counter, collectDefaultMetrics, Gauge, Registry } from 'prom-client';
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

const LATENCY_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];

interface RequestSeries {
  labels: { route: string; method: string; status: string };
  count: number;
  sum: number;
  /** Observations per bucket (not cumulative); the last one is +Inf. */
  buckets: number[];
}

type MetricValue = { metricName?: string; labels: Record<string, string | number>; value: number };

/**
 * The request counter and latency histogram, kept as plain numbers per route, method and status:
 * every request pays one map lookup and a few additions, and the Prometheus shape (cumulative
 * buckets, _sum, _count) is built only when /metrics is scraped. prom-client's own Counter and
 * Histogram hash their label object on every observation, which the hottest route paid twice.
 */
class RequestMetrics {
  readonly #series = new Map<string, RequestSeries>();

  record(route: string, method: string, status: number, seconds: number): void {
    const key = `${method} ${status} ${route}`;
    let series = this.#series.get(key);
    if (series === undefined) {
      series = {
        labels: { route, method, status: String(status) },
        count: 0,
        sum: 0,
        buckets: new Array<number>(LATENCY_BUCKETS.length + 1).fill(0),
      };
      this.#series.set(key, series);
    }
    series.count++;
    series.sum += seconds;
    let bucket = 0;
    while (bucket < LATENCY_BUCKETS.length && seconds > (LATENCY_BUCKETS[bucket] as number)) bucket++;
    series.buckets[bucket] = (series.buckets[bucket] ?? 0) + 1;
  }

  /** The two metrics in the form a prom-client registry exposes. */
  metrics(): { name: string; type: string; get(): Promise<unknown> }[] {
    const all = () => [...this.#series.values()];
    return [
      {
        name: 'latchkey_http_requests_total',
        type: 'counter',
        get: async () => ({
          name: 'latchkey_http_requests_total',
          help: 'HTTP requests by route, method and status.',
          type: 'counter',
          aggregator: 'sum',
          values: all().map((series): MetricValue => ({ labels: series.labels, value: series.count })),
        }),
      },
      {
        name: 'latchkey_http_request_duration_seconds',
        type: 'histogram',
        get: async () => {
          const name = 'latchkey_http_request_duration_seconds';
          const values: MetricValue[] = [];
          for (const series of all()) {
            let cumulative = 0;
            LATENCY_BUCKETS.forEach((bound, index) => {
              cumulative += series.buckets[index] ?? 0;
              values.push({
                metricName: `${name}_bucket`,
                labels: { le: bound, ...series.labels },
                value: cumulative,
              });
            });
            values.push({
              metricName: `${name}_bucket`,
              labels: { le: '+Inf', ...series.labels },
              value: series.count,
            });
            values.push({ metricName: `${name}_sum`, labels: series.labels, value: series.sum });
            values.push({ metricName: `${name}_count`, labels: series.labels, value: series.count });
          }
          return {
            name,
            help: 'HTTP request latency by route, method and status.',
            type: 'histogram',
            aggregator: 'sum',
            values,
          };
        },
      },
    ];
  }
}

/** One registry per app instance, so tests that build several apps do not share counters. */
export class Metrics implements MetricsSink {
  readonly registry = new Registry();
  readonly #requests = new RequestMetrics();
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
    for (const metric of this.#requests.metrics())
      this.registry.registerMetric(metric as unknown as Parameters<Registry['registerMetric']>[0]);
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

  /** One answered request: its route as written, method, status and latency in seconds. */
  request(route: string, method: string, status: number, seconds: number): void {
    this.#requests.record(route, method, status, seconds);
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
