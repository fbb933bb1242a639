import { constantEquals } from '../../crypto/constant-equals.js';
import type { Deps } from '../../deps.js';
import { unauthorized } from '../../errors.js';
import { pendingMigrations } from '../../store/connect.js';
import type { Api as App } from '../api.js';
import type { Metrics } from '../metrics.js';

export function registerHealthRoutes(app: App, deps: Deps, metrics: Metrics): void {
  // Liveness: the process answers. It does not ask the database, so an outage there makes
  // instances unready (below), not restarted in a loop. While stopping, Fastify answers 503.
  app.get('/health', async () => ({ status: 'ok' }));

  // Readiness: this instance can serve logins: the store answers and its schema is current
  // (an instance of newer code waits here until its migrations have run).
  app.get('/health/ready', async (request, reply) => {
    try {
      await deps.store.ping();
    } catch (error) {
      request.log.warn({ err: error }, 'readiness: the database does not answer');
      return reply.code(503).send({ status: 'unavailable', reason: 'database unreachable' });
    }
    try {
      const pending = await pendingMigrations(deps.store);
      if (pending.length > 0)
        return reply.code(503).send({ status: 'unavailable', reason: 'migrations pending', pending });
    } catch (error) {
      request.log.warn({ err: error }, 'readiness: cannot read the migration state');
      return reply.code(503).send({ status: 'unavailable', reason: 'database unreachable' });
    }
    return { status: 'ready' };
  });

  app.get('/metrics', async (request, reply) => {
    const expected = deps.config.metricsToken;
    if (expected !== undefined) {
      const header = request.headers.authorization ?? '';
      const presented = header.startsWith('Bearer ') ? header.slice('Bearer '.length) : '';
      if (!constantEquals(presented, expected))
        throw unauthorized('A valid metrics bearer token is required.');
    }
    const exposed = await metrics.exposition();
    return reply.type(exposed.contentType).send(exposed.text);
  });
}
