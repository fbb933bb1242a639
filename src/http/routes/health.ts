import { constantEquals } from '../../crypto/constant-equals.js';
import type { Deps } from '../../deps.js';
import { unauthorized } from '../../errors.js';
import type { Api as App } from '../api.js';
import type { Metrics } from '../metrics.js';

export function registerHealthRoutes(app: App, deps: Deps, metrics: Metrics): void {
  app.get('/health', async (_request, reply) => {
    try {
      await deps.store.ping();
      return { status: 'ok' };
    } catch {
      return reply.code(503).send({ status: 'unavailable' });
    }
  });

  app.get('/metrics', async (request, reply) => {
    const expected = deps.config.metricsToken;
    if (expected !== undefined) {
      const header = request.headers.authorization ?? '';
      const presented = header.startsWith('Bearer ') ? header.slice('Bearer '.length) : '';
      if (!constantEquals(presented, expected))
        throw unauthorized('A valid metrics bearer token is required.');
    }
    return reply.type(metrics.registry.contentType).send(await metrics.registry.metrics());
  });
}
