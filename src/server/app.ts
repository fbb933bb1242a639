import fastifySwagger from '@fastify/swagger';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import Fastify, {
  type FastifyBaseLogger,
  type FastifyError,
  type FastifyInstance,
  type FastifyReply,
  type FastifyRequest,
  LogController,
} from 'fastify';
import { type ApiError, badRequest, serviceUnavailable } from '../core/errors.js';
import { packageVersion } from '../core/package-version.js';
import {
  closeSilentConnections,
  headersCheckIntervalMs,
  limitConnectionsPerAddress,
} from '../http/connection-limits.js';
import { answerClientError, BODY_LIMIT_BYTES, sendFault, toApiError } from '../http/faults.js';
import { refuseHostileBody, refuseHostileInput, routeTakesBody } from '../http/hostile-input.js';
import type { Metrics } from '../http/metrics.js';
import { openApiOptions } from '../http/openapi.js';
import { type HttpServer, KnownPaths } from '../http/server-instance.js';
import { apiNotFound, apiPlugin } from '../http/v2/api.js';
import { sendKeystoneError } from '../http/v3/errors.js';
import { identityV3Plugin } from '../http/v3/plugin.js';
import { sendBareErrorPage, sendNotFoundPage } from '../panel/errors.js';
import { panelPlugin } from '../panel/plugin.js';
import { prefersHtml } from '../panel/security.js';
import type { Deps } from '../services/deps.js';
import { accessLogWriter } from './access-log.js';
import { lazyRequestLogger } from './lazy-request-logger.js';

export { BODY_LIMIT_BYTES };

declare module 'fastify' {
  interface FastifyRequest {
    /**
     * The origin clients reach this service at (`https://id.example.com`): LATCHKEY_PUBLIC_URL,
     * else the request's own scheme and Host (X-Forwarded-Proto and -Host believed only from a
     * trusted proxy). Self links, the catalog, redirects and the panel's origin check use it.
     */
    readonly publicOrigin: string;
  }
}

/** The domain's dependencies with the metrics the HTTP surface exposes (main.ts builds them). */
export type AppDeps = Deps & { metrics: Metrics };

/**
 * Routes may require `{ page: 'html' }`: it holds when the client prefers HTML to JSON. `/` is
 * shared that way: browsers get the control panel, API clients (and anything that does not prefer
 * HTML) the route without the constraint, Identity's version list.
 */
type ConstraintStrategy = Parameters<FastifyInstance['addConstraintStrategy']>[0];
type RouteStore = Parameters<ReturnType<ConstraintStrategy['storage']>['set']>[1];

const pageConstraint: ConstraintStrategy = {
  name: 'page',
  storage() {
    const handlers = new Map<unknown, RouteStore>();
    return {
      get: (value) => handlers.get(value) ?? null,
      set: (value, store) => {
        handlers.set(value, store);
      },
    };
  },
  // Derived for every request: most name no HTML at all (API clients), and skip the parse.
  deriveConstraint: (request) => {
    const accept = request.headers.accept;
    return accept !== undefined && NAMES_HTML.test(accept) && prefersHtml(accept) ? 'html' : 'other';
  },
  mustMatchWhenDerived: false,
};

const NAMES_HTML = /text\/html/i;

type Surface = 'api' | 'v3' | 'panel';

/**
 * Which surface a request the routes did not take belongs to: /v3 is Identity v3's; a page a
 * browser asks for (outside the v2.0 API's paths) the panel's; everything else the v2.0 API's.
 */
function surfaceOf(request: FastifyRequest, apiPaths: KnownPaths): Surface {
  const path = request.url.split('?')[0] ?? '';
  if (path === '/v3' || path.startsWith('/v3/')) return 'v3';
  const apiPath = path === '/v2.0' || path.startsWith('/v2.0/') || apiPaths.methodsFor(path) !== undefined;
  return !apiPath && prefersHtml(request.headers.accept) ? 'panel' : 'api';
}

function sendSurfaceError(
  surface: Surface,
  request: FastifyRequest,
  reply: FastifyReply,
  error: ApiError,
): FastifyReply {
  if (surface === 'v3') return sendKeystoneError(request, reply, error);
  if (surface === 'panel') return sendBareErrorPage(request, reply, error);
  return sendFault(reply, error);
}

/**
 * The process's one Fastify instance: server-wide settings, request metrics and logging, and
 * each surface (the v2.0 API; OpenStack Identity v3; the control panel) as its own encapsulated
 * plugin.
 */
export function buildApp(deps: AppDeps): HttpServer {
  const { metrics } = deps;
  const apiPaths = new KnownPaths();
  const app = Fastify({
    loggerInstance: deps.log as FastifyBaseLogger,
    // Our own onResponse line replaces Fastify's, whose URL would carry token ids.
    logController: new LogController({ disableRequestLogging: true }),
    childLoggerFactory: lazyRequestLogger,
    bodyLimit: BODY_LIMIT_BYTES,
    // X-Forwarded-For is believed only from the listed proxies (addresses or CIDR ranges).
    trustProxy: deps.config.trustedProxies.length > 0 ? deps.config.trustedProxies : false,
    // While closing, requests on open connections get 503 in the fault format (below), not
    // Fastify's own body.
    return503OnClosing: false,
    // Slow clients (README "Security"): a request must arrive whole within requestTimeout, its
    // headers within headersTimeout; an idle keep-alive connection closes after keepAliveTimeout.
    requestTimeout: deps.config.http.requestTimeoutMs,
    keepAliveTimeout: deps.config.http.keepAliveTimeoutMs,
    http: {
      // Node checks headersTimeout against requestTimeout when it creates the server, before
      // Fastify sets the latter: without it here, a headers timeout above Node's default request
      // timeout (300 s) refused to start.
      requestTimeout: deps.config.http.requestTimeoutMs,
      headersTimeout: deps.config.http.headersTimeoutMs,
      connectionsCheckingInterval: headersCheckIntervalMs(deps.config.http.headersTimeoutMs),
    },
    clientErrorHandler: answerClientError,
    routerOptions: { ignoreTrailingSlash: true },
    // URLs the router cannot even match (bad percent-encoding, an over-long id) still get the
    // contract's fault body; Fastify's own body would echo the URL, which may carry a token id.
    frameworkErrors: (error, request, reply) =>
      sendSurfaceError(
        surfaceOf(request as unknown as FastifyRequest, apiPaths),
        request as unknown as FastifyRequest,
        reply as unknown as FastifyReply,
        badRequest(
          error.code === 'FST_ERR_MAX_PARAM_LENGTH'
            ? 'Invalid request: a path segment is too long.'
            : 'Invalid request: the URL is not valid.',
        ),
      ),
    ajv: { customOptions: { coerceTypes: false, removeAdditional: false, allErrors: false } },
  }).withTypeProvider<TypeBoxTypeProvider>();
  app.addConstraintStrategy(pageConstraint);
  const configuredOrigin = deps.config.publicUrl;
  app.decorateRequest('publicOrigin', {
    getter(this: FastifyRequest) {
      return configuredOrigin ?? `${this.protocol}://${this.host}`;
    },
  });

  // One edge for every surface, each answering in its own format (hostile-input.ts). The body
  // hook goes only on routes that take a body: a hook stage a route does not have costs nothing.
  app.addHook('onRequest', refuseHostileInput);
  app.addHook('onRoute', (route) => {
    if (!routeTakesBody(route.method)) return;
    const existing = route.preValidation;
    route.preValidation = [
      refuseHostileBody,
      ...(existing === undefined ? [] : Array.isArray(existing) ? existing : [existing]),
    ];
  });

  // A stop in progress: what still arrives on open connections is told to go elsewhere, and
  // load balancers watching /health see the 503 too.
  let closing = false;
  app.addHook('preClose', (done) => {
    closing = true;
    done();
  });
  app.addHook('onRequest', (_request, reply, done) => {
    if (!closing) return done();
    sendFault(reply, serviceUnavailable('The server is stopping. Try again.'));
  });
  // Answers that finish during a stop close their connection, so a keep-alive client moves to
  // another instance at once instead of holding this one open until the grace period ends.
  app.addHook('onSend', (_request, reply, payload, done) => {
    if (closing) reply.header('connection', 'close');
    done(null, payload);
  });

  // Beyond this many open connections Node closes new ones at once (slow-client floods), and no
  // one address may take more than its share of them.
  app.server.maxConnections = deps.config.http.maxConnections;
  limitConnectionsPerAddress(
    app.server,
    {
      perAddress: deps.config.http.maxConnectionsPerAddress,
      idlePerAddress: deps.config.http.maxIdleConnectionsPerAddress,
      trustedProxies: deps.config.trustedProxies,
    },
    { clock: deps.clock, log: deps.log, refused: () => metrics.throttled('connections_per_address') },
  );
  closeSilentConnections(app.server, deps.config.http.headersTimeoutMs, deps.clock);

  // The access line holds only the route pattern, method, status and time, never a value a
  // client sent.
  const writeAccessLine = accessLogWriter(deps.log);
  /** Route patterns as clients write them: Fastify spells a literal ':' as '::'. */
  const routeLabels = new Map<string, string>();
  app.addHook('onResponse', (request: FastifyRequest, reply: FastifyReply, done: () => void) => {
    const pattern = request.routeOptions.url;
    let route = 'unmatched';
    if (pattern !== undefined) {
      route = routeLabels.get(pattern) ?? pattern.replaceAll('::', ':');
      if (routeLabels.size < 1000) routeLabels.set(pattern, route);
    }
    const elapsed = reply.elapsedTime;
    metrics.request(route, request.method, reply.statusCode, elapsed / 1000);
    writeAccessLine({
      reqId: request.id,
      method: request.method,
      route,
      status: reply.statusCode,
      ms: Math.round(elapsed * 10) / 10,
    });
    done();
  });

  // Before the surfaces: it collects their routes as they are added (GET /openapi.json serves it).
  app.register(fastifySwagger, openApiOptions(packageVersion()));
  app.register(apiPlugin, { deps, metrics, knownPaths: apiPaths });
  app.register(identityV3Plugin, { deps, metrics });

  app.register(panelPlugin, { deps, metrics });

  // A browser asking for a page that does not exist gets the panel's HTML 404; API clients, and
  // every path of the API itself, keep the contract's JSON fault.
  app.setNotFoundHandler(async (request, reply) => {
    if (surfaceOf(request, apiPaths) === 'panel') return sendNotFoundPage(reply);
    return apiNotFound(apiPaths, request, reply);
  });
  // Errors outside any surface's routes (a body sent to an unknown path, routes added by tests)
  // answer in the format of the surface the path belongs to.
  app.setErrorHandler(async (error: FastifyError | ApiError, request, reply) =>
    sendSurfaceError(surfaceOf(request, apiPaths), request, reply, toApiError(error, request.log)),
  );
  return app;
}
