import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import Fastify, {
  type FastifyBaseLogger,
  type FastifyError,
  type FastifyInstance,
  type FastifyReply,
  type FastifyRequest,
  LogController,
} from 'fastify';
import type { Deps } from './deps.js';
import { type ApiError, badRequest } from './errors.js';
import { apiNotFound, apiPlugin, KnownPaths } from './http/api.js';
import { BODY_LIMIT_BYTES, sendFault, toApiError } from './http/faults.js';
import { Metrics } from './http/metrics.js';
import { identityV3Plugin } from './http/v3/plugin.js';

export { BODY_LIMIT_BYTES };

export type App = FastifyInstance<
  import('node:http').Server,
  import('node:http').IncomingMessage,
  import('node:http').ServerResponse,
  import('fastify').FastifyBaseLogger,
  TypeBoxTypeProvider
>;

/**
 * The process's one Fastify instance: server-wide settings, request metrics and logging, and
 * each surface (the v2.0 API; OpenStack Identity v3; the control panel) as its own encapsulated
 * plugin.
 */
export function buildApp(deps: Deps, metrics: Metrics = new Metrics()): App {
  const app = Fastify({
    loggerInstance: deps.log as FastifyBaseLogger,
    // Our own onResponse line replaces Fastify's, whose URL would carry token ids.
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: BODY_LIMIT_BYTES,
    trustProxy: deps.config.trustProxy,
    return503OnClosing: true,
    routerOptions: { ignoreTrailingSlash: true },
    // URLs the router cannot even match (bad percent-encoding, an over-long id) still get the
    // contract's fault body; Fastify's own body would echo the URL, which may carry a token id.
    frameworkErrors: (error, _request, reply) =>
      sendFault(
        reply as unknown as FastifyReply,
        badRequest(
          error.code === 'FST_ERR_MAX_PARAM_LENGTH'
            ? 'Invalid request: a path segment is too long.'
            : 'Invalid request: the URL is not valid.',
        ),
      ),
    ajv: { customOptions: { coerceTypes: false, removeAdditional: false, allErrors: false } },
  }).withTypeProvider<TypeBoxTypeProvider>();

  app.addHook('onResponse', (request: FastifyRequest, reply: FastifyReply, done: () => void) => {
    // Fastify spells a literal ':' as '::' in a route; label it as clients write it.
    const route = request.routeOptions.url?.replaceAll('::', ':') ?? 'unmatched';
    const labels = { route, method: request.method, status: String(reply.statusCode) };
    metrics.requests.inc(labels);
    metrics.latency.observe(labels, reply.elapsedTime / 1000);
    request.log.info(
      {
        method: request.method,
        route,
        status: reply.statusCode,
        ms: Math.round(reply.elapsedTime * 10) / 10,
      },
      'request',
    );
    done();
  });

  const apiPaths = new KnownPaths();
  app.register(apiPlugin, { deps, metrics, knownPaths: apiPaths });
  app.register(identityV3Plugin, { deps, metrics });

  app.setNotFoundHandler(async (request, reply) => apiNotFound(apiPaths, request, reply));
  // Errors outside any surface (the router, routes added by tests) get the API's fault body.
  app.setErrorHandler(async (error: FastifyError | ApiError, request, reply) =>
    sendFault(reply, toApiError(error, request.log)),
  );
  return app;
}
