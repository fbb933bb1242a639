import { Type } from 'typebox';
import { unauthorized } from '../../../core/errors.js';
import { constantEquals } from '../../../crypto/constant-equals.js';
import type { Deps } from '../../../services/deps.js';
import { pendingMigrations } from '../../../store/connect.js';
import type { Metrics } from '../../metrics.js';
import { fault, operation, Tags } from '../../openapi.js';
import type { HttpServer } from '../../server-instance.js';

const Unavailable = Type.Object(
  {
    status: Type.Literal('unavailable'),
    reason: Type.Union([Type.Literal('database unreachable'), Type.Literal('migrations pending')]),
    pending: Type.Optional(Type.Array(Type.String(), { description: 'The migrations not yet applied.' })),
  },
  { description: 'Not ready: take this instance out of the load balancer.' },
);

export function registerHealthRoutes(app: HttpServer, deps: Deps, metrics: Metrics): void {
  // Liveness: the process answers. It does not ask the database, so an outage there makes
  // instances unready (below), not restarted in a loop. While stopping, Fastify answers 503.
  app.get(
    '/health',
    {
      schema: operation({
        summary: 'Liveness: the process answers',
        tag: Tags.operations,
        extension: true,
        auth: 'none',
        responses: {
          200: Type.Object({ status: Type.Literal('ok') }, { description: 'The process is alive.' }),
        },
      }),
    },
    async () => ({ status: 'ok' as const }),
  );

  // Readiness: this instance can serve logins: the store answers and its schema is current
  // (an instance of newer code waits here until its migrations have run).
  app.get(
    '/health/ready',
    {
      schema: operation({
        summary: 'Readiness: the database answers and its migrations are applied',
        tag: Tags.operations,
        extension: true,
        auth: 'none',
        responses: {
          200: Type.Object({ status: Type.Literal('ready') }, { description: 'Ready to serve logins.' }),
          503: Type.Union([Unavailable, fault(503, 'The server is stopping.')], {
            description:
              'Not ready: the database does not answer, migrations are pending, or the server is stopping.',
          }),
        },
      }),
    },
    async (request, reply) => {
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
      return { status: 'ready' as const };
    },
  );

  app.get(
    '/metrics',
    {
      schema: operation({
        summary: 'Prometheus metrics',
        description:
          'With LATCHKEY_METRICS_TOKEN set, only with `Authorization: Bearer <that token>` (required when the server listens beyond loopback).',
        tag: Tags.operations,
        extension: true,
        auth: 'none',
        responses: {
          200: {
            description: 'The Prometheus text exposition format.',
            content: { 'text/plain': { schema: Type.String() } },
          },
          401: fault(401, 'LATCHKEY_METRICS_TOKEN is set and the bearer token is missing or wrong.', [
            'A valid metrics bearer token is required.',
          ]),
        },
      }),
    },
    async (request, reply) => {
      const expected = deps.config.metricsToken;
      if (expected !== undefined) {
        const header = request.headers.authorization ?? '';
        const presented = header.startsWith('Bearer ') ? header.slice('Bearer '.length) : '';
        if (!constantEquals(presented, expected))
          throw unauthorized('A valid metrics bearer token is required.');
      }
      const exposed = await metrics.exposition();
      return reply.type(exposed.contentType).send(exposed.text);
    },
  );
}
