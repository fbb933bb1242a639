import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { ApiError } from '../../core/errors.js';
import type { Deps } from '../../services/deps.js';
import { requireCaller } from '../auth.js';
import { sendFault, toApiError } from '../faults.js';
import type { Metrics } from '../metrics.js';
import type { HttpServer, KnownPaths } from '../server-instance.js';
import { registerCredentialRoutes } from './routes/credentials.js';
import { registerDomainRoutes } from './routes/domains.js';
import { registerEventRoutes } from './routes/events.js';
import { registerHealthRoutes } from './routes/health.js';
import { registerPhoneRoutes } from './routes/mobile-phones.js';
import { registerMultiFactorRoutes } from './routes/multi-factor.js';
import { registerOpenApiRoute } from './routes/openapi-document.js';
import { registerOtpRoutes } from './routes/otp-devices.js';
import { registerPasskeyRoutes } from './routes/passkeys.js';
import { registerTokenRoutes } from './routes/tokens.js';
import { registerUserRoutes } from './routes/users.js';
import { registerVersionRoute } from './routes/version.js';

export interface ApiOptions {
  deps: Deps;
  metrics: Metrics;
  /** Filled with every API path pattern, so an unknown method on a known path answers 405. */
  knownPaths: KnownPaths;
}

/** 404 or 405 in the contract's fault format, for a request no API route matched. */
export function apiNotFound(
  knownPaths: KnownPaths,
  request: FastifyRequest,
  reply: FastifyReply,
): FastifyReply {
  const methods = knownPaths.methodsFor(request.url.split('?')[0] ?? '');
  if (methods) {
    return sendFault(
      reply.header('Allow', methods.join(', ')),
      new ApiError(405, 'methodNotAllowed', `Method ${request.method} not allowed.`),
    );
  }
  return sendFault(reply, new ApiError(404, 'itemNotFound', 'Resource not found.'));
}

/** Whether the route's schema names the X-Auth-Token security scheme (openapi.ts `operation`). */
function takesToken(request: FastifyRequest): boolean {
  const security = (request.routeOptions.schema as { security?: unknown[] } | undefined)?.security;
  return Array.isArray(security) && security.length > 0;
}

/**
 * The Rackspace v2.0 API, health and metrics as one encapsulated plugin: its JSON-only parsers,
 * Accept check and fault renderer apply to its own routes and nothing else.
 */
export async function apiPlugin(instance: FastifyInstance, options: ApiOptions): Promise<void> {
  const app = instance.withTypeProvider<TypeBoxTypeProvider>() as unknown as HttpServer;
  const { deps, metrics, knownPaths } = options;

  app.removeContentTypeParser('text/plain');
  // A JSON Content-Type with an empty body (clients that send the header on every call, e.g. on
  // the bodiless API key reset) is no body at all; a route that needs one answers its own 400.
  const parseJson = app.getDefaultJsonParser('error', 'error');
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (request, body, done) => {
    if (body.length === 0) return done(null, undefined);
    return parseJson(request, body.toString(), done);
  });

  app.addHook('onRoute', (route) => knownPaths.add(route.url, route.method));

  // Callback-style hooks: on every request, an async hook costs extra promise turns.
  app.addHook('onRequest', (request, _reply, done) => {
    const accept = request.headers.accept;
    if (accept && !/(application\/json|application\/\*|\*\/\*|text\/plain|text\/\*)/i.test(accept)) {
      done(new ApiError(406, 'notAcceptable', 'Only application/json responses are available.'));
      return;
    }
    done();
  });

  // Hostile input (control characters, over-long URL values) is refused for every surface by
  // the root's hook (hostile-input.ts), before any schema or query sees it.

  app.setErrorHandler(async (error: FastifyError | ApiError, request, reply) => {
    // The caller is authenticated before the request is judged (reference §1: a missing or
    // invalid token is 401): on a route that takes a token, an id or body of the wrong shape is
    // a 404 or 400 only for an authenticated caller. Only this error path pays for the lookup.
    if (!(error instanceof ApiError) && error.validation && takesToken(request)) {
      try {
        await requireCaller(deps, request, { kind: 'revocation' });
      } catch (refusal) {
        return sendFault(reply, toApiError(refusal as ApiError, request.log));
      }
    }
    return sendFault(reply, toApiError(error, request.log));
  });

  // Response schemas document the answers (openapi.ts) and the test suite holds every answer to
  // them; serialising through them would drop whatever a schema forgot, so answers stay JSON.
  app.setSerializerCompiler(() => (data) => JSON.stringify(data));

  registerHealthRoutes(app, deps, metrics);
  registerTokenRoutes(app, deps, metrics);
  registerUserRoutes(app, deps);
  registerCredentialRoutes(app, deps);
  registerDomainRoutes(app, deps);
  registerMultiFactorRoutes(app, deps);
  registerOtpRoutes(app, deps);
  registerPasskeyRoutes(app, deps);
  registerPhoneRoutes(app, deps);
  registerEventRoutes(app, deps);
  registerOpenApiRoute(app);
  registerVersionRoute(app);
}
