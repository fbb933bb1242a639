import { Counter, Histogram, Registry } from 'prom-client';

/** One registry per app instance, so tests that build several apps do not share counters. */
export class Metrics {
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
}
