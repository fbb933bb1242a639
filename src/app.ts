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
import { ApiError, badRequest, type FaultName } from './errors.js';
import { Metrics } from './http/metrics.js';
import { registerCredentialRoutes } from './http/routes/credentials.js';
import { registerDomainRoutes } from './http/routes/domains.js';
import { registerEventRoutes } from './http/routes/events.js';
import { registerHealthRoutes } from './http/routes/health.js';
import { registerPhoneRoutes } from './http/routes/mobile-phones.js';
import { registerMultiFactorRoutes } from './http/routes/multi-factor.js';
import { registerOtpRoutes } from './http/routes/otp-devices.js';
import { registerTokenRoutes } from './http/routes/tokens.js';
import { registerUserRoutes } from './http/routes/users.js';

export type App = FastifyInstance<
  import('node:http').Server,
  import('node:http').IncomingMessage,
  import('node:http').ServerResponse,
  import('fastify').FastifyBaseLogger,
  TypeBoxTypeProvider
>;

/** Body limit (ours, API.md): 64 KiB. */
export const BODY_LIMIT_BYTES = 64 * 1024;

const FAULT_BY_STATUS: Record<number, FaultName> = {
  400: 'badRequest',
  401: 'unauthorized',
  403: 'forbidden',
  404: 'itemNotFound',
  405: 'methodNotAllowed',
  406: 'notAcceptable',
  413: 'overLimit',
  415: 'unsupportedMediaType',
  429: 'overLimit',
  503: 'serviceUnavailable',
};

function send(reply: FastifyReply, error: ApiError): FastifyReply {
  return reply.code(error.status).headers(error.headers).type('application/json').send(error.toBody());
}

/** Fastify's own client errors keep their status but get the contract's fault body and wording. */
function clientErrorMessage(error: FastifyError): string {
  switch (error.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return `Request body is larger than ${BODY_LIMIT_BYTES} bytes.`;
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return 'Unsupported media type: send application/json.';
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return 'Request body is empty.';
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
      return 'Request body is not valid JSON.';
    default:
      if (error.validation) return `Invalid request: ${error.message}`;
      return error.statusCode === 400 ? 'Invalid request.' : error.message;
  }
}

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
      send(
        reply as unknown as FastifyReply,
        badRequest(
          error.code === 'FST_ERR_MAX_PARAM_LENGTH'
            ? 'Invalid request: a path segment is too long.'
            : 'Invalid request: the URL is not valid.',
        ),
      ),
    ajv: { customOptions: { coerceTypes: false, removeAdditional: false, allErrors: false } },
  }).withTypeProvider<TypeBoxTypeProvider>();

  app.removeContentTypeParser('text/plain');
  // A JSON Content-Type with an empty body (clients that send the header on every call, e.g. on
  // the bodiless API key reset) is no body at all; a route that needs one answers its own 400.
  const parseJson = app.getDefaultJsonParser('error', 'error');
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (request, body, done) => {
    if (body.length === 0) return done(null, undefined);
    return parseJson(request, body.toString(), done);
  });

  // Every known path pattern, so an unknown method on a known path answers 405, not 404.
  const knownPaths: { pattern: RegExp; methods: Set<string> }[] = [];
  app.addHook('onRoute', (route) => {
    const source = route.url
      .replaceAll('::', '%LITERAL_COLON%')
      .split('/')
      .map((part) => (part.startsWith(':') ? '[^/]+' : part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')))
      .join('/')
      .replaceAll('%LITERAL_COLON%', ':');
    const pattern = new RegExp(`^${source}/?$`);
    const methods = Array.isArray(route.method) ? route.method : [route.method];
    const entry = knownPaths.find((known) => known.pattern.source === pattern.source);
    if (entry) for (const method of methods) entry.methods.add(method);
    else knownPaths.push({ pattern, methods: new Set(methods) });
  });

  // Callback-style hooks: on every request, an async hook costs extra promise turns.
  app.addHook('onRequest', (request, _reply, done) => {
    const accept = request.headers.accept;
    if (accept && !/(application\/json|application\/\*|\*\/\*|text\/plain|text\/\*)/i.test(accept)) {
      done(new ApiError(406, 'notAcceptable', 'Only application/json responses are available.'));
      return;
    }
    done();
  });

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

  app.setNotFoundHandler(async (request, reply) => {
    const path = request.url.split('?')[0] ?? '';
    const known = knownPaths.find((entry) => entry.pattern.test(path));
    if (known) {
      const allow = [...known.methods].join(', ');
      return send(
        reply.header('Allow', allow),
        new ApiError(405, 'methodNotAllowed', `Method ${request.method} not allowed.`),
      );
    }
    return send(reply, new ApiError(404, 'itemNotFound', 'Resource not found.'));
  });

  app.setErrorHandler(async (error: FastifyError | ApiError, request, reply) => {
    if (error instanceof ApiError) return send(reply, error);
    const status = error.statusCode ?? 500;
    const fault = FAULT_BY_STATUS[status];
    if (status >= 400 && status < 500 && fault) {
      return send(reply, new ApiError(status, fault, clientErrorMessage(error)));
    }
    // Anything unexpected: the stack goes to the log, the client learns nothing.
    request.log.error({ err: error }, 'unhandled error');
    return send(reply, new ApiError(500, 'identityFault', 'The service encountered an unexpected error.'));
  });

  registerHealthRoutes(app, deps, metrics);
  registerTokenRoutes(app, deps, metrics);
  registerUserRoutes(app, deps);
  registerCredentialRoutes(app, deps);
  registerDomainRoutes(app, deps);
  registerMultiFactorRoutes(app, deps);
  registerOtpRoutes(app, deps);
  registerPhoneRoutes(app, deps);
  registerEventRoutes(app, deps);
  return app;
}
