import path from 'node:path';
import { fileURLToPath } from 'node:url';
import fastifyCookie from '@fastify/cookie';
import fastifyCsrfProtection from '@fastify/csrf-protection';
import fastifyFormbody from '@fastify/formbody';
import fastifyStatic from '@fastify/static';
import type { FastifyError, FastifyInstance } from 'fastify';
import type { ApiError } from '../core/errors.js';
import type { Metrics } from '../http/metrics.js';
import type { Deps } from '../services/deps.js';
import { sendErrorPage } from './errors.js';
import { BARE_CONTEXT, csrfTokenFor, type PageContext } from './render.js';
import { registerAdminAccountRoutes } from './routes/admin-accounts.js';
import { registerAdminEventRoutes } from './routes/admin-events.js';
import { registerAdminPolicyRoutes } from './routes/admin-policy.js';
import { registerAdminUserFormRoutes } from './routes/admin-user-forms.js';
import { registerAdminUserRoutes } from './routes/admin-users.js';
import { registerAuthenticatorRoutes } from './routes/authenticator.js';
import { registerBypassCodeRoutes } from './routes/bypass-codes.js';
import { registerCredentialRoutes } from './routes/credentials.js';
import { registerPasskeyRoutes } from './routes/passkeys.js';
import { registerProfileRoutes } from './routes/profile.js';
import { registerSetupRoutes } from './routes/setup.js';
import { registerSignInRoutes } from './routes/sign-in.js';
import { registerSmsRoutes } from './routes/sms.js';
import { isSameOriginRequest, PANEL_SECURITY_HEADERS } from './security.js';
import { COOKIES } from './session.js';

export interface PanelOptions {
  deps: Deps;
  metrics: Metrics;
}

/** Our own stylesheet, script and icon: no CDN, no external font. */
export const ASSETS_DIR = path.join(path.dirname(fileURLToPath(import.meta.url)), 'assets');

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

/**
 * The web control panel as one encapsulated plugin: cookies, form bodies, CSRF, security headers
 * and HTML error pages apply to its routes and nothing else (the v2.0 API is untouched). Pages are
 * rendered on the server; each route calls the same domain functions as the API.
 */
export async function panelPlugin(app: FastifyInstance, options: PanelOptions): Promise<void> {
  const { deps } = options;

  await app.register(fastifyCookie, { secret: deps.keys.derive('panel cookie signing') });
  await app.register(fastifyFormbody, { bodyLimit: 16 * 1024 });
  app.addHook('onRequest', (_request, reply, done) => {
    reply.headers(PANEL_SECURITY_HEADERS);
    done();
  });
  await app.register(fastifyCsrfProtection, {
    cookieKey: COOKIES.csrf,
    // `secure` is added per request, where the protocol is known (pageContext).
    cookieOpts: { path: '/', sameSite: 'lax', httpOnly: true, signed: true },
  });
  await app.register(fastifyStatic, {
    root: ASSETS_DIR,
    prefix: '/assets/',
    decorateReply: false,
    index: false,
    maxAge: '1h',
  });

  // Origin first: a cross-origin POST is refused before its body is read.
  app.addHook('onRequest', (request, _reply, done) => {
    if (SAFE_METHODS.has(request.method) || isSameOriginRequest(request)) {
      done();
      return;
    }
    request.log.warn({ origin: request.headers.origin ?? null }, 'cross-origin form post refused');
    const error = Object.assign(new Error('Invalid csrf token'), {
      statusCode: 403,
      code: 'FST_CSRF_INVALID_TOKEN',
    });
    done(error);
  });
  // Then the CSRF token of every state-changing form (the body is parsed by now).
  app.addHook('preHandler', (request, reply, done) => {
    if (SAFE_METHODS.has(request.method)) {
      done();
      return;
    }
    app.csrfProtection(request, reply, done);
  });

  app.setErrorHandler(async (error: FastifyError | ApiError, request, reply) => {
    let ctx: PageContext = BARE_CONTEXT;
    try {
      ctx = { ...BARE_CONTEXT, csrfToken: csrfTokenFor(request, reply) };
    } catch {
      // Without a CSRF token the error page simply has no forms.
    }
    return sendErrorPage(request, reply, error, ctx);
  });

  registerSignInRoutes(app, deps);
  registerSetupRoutes(app, deps);
  registerProfileRoutes(app, deps);
  registerAuthenticatorRoutes(app, deps);
  registerSmsRoutes(app, deps);
  registerBypassCodeRoutes(app, deps);
  registerPasskeyRoutes(app, deps);
  registerCredentialRoutes(app, deps);
  registerAdminAccountRoutes(app, deps);
  registerAdminUserRoutes(app, deps);
  registerAdminUserFormRoutes(app, deps);
  registerAdminPolicyRoutes(app, deps);
  registerAdminEventRoutes(app, deps);
}
