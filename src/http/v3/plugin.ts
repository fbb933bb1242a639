import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { FastifyError, FastifyInstance, FastifyRequest } from 'fastify';
import { Type } from 'typebox';
import { authorize, type Caller, may } from '../../access/caller.js';
import { authMethodsOf, resolveToken, revokeToken } from '../../access/tokens.js';
import { login } from '../../auth/login.js';
import { ApiError, Messages, notFound } from '../../core/errors.js';
import type { Deps } from '../../services/deps.js';
import type { TokenRow, UserView } from '../../store/schema.js';
import { requireCaller } from '../auth.js';
import { baseUrlOf, VersionSchema, versionDocument } from '../discovery.js';
import { toApiError } from '../faults.js';
import type { Metrics } from '../metrics.js';
import { described, noContent, Tags, withHeaders } from '../openapi.js';
import { type HttpServer, KnownPaths } from '../server-instance.js';
import { parseV3AuthRequest, RECEIPT_HEADER } from './auth-request.js';
import { sendKeystoneError } from './errors.js';
import {
  loginFaults,
  subjectHeader,
  subjectNotFound,
  tokenFound,
  V3AuthRequestSchema,
  V3TokenSchema,
  v3Operation,
} from './openapi.js';
import { renderReceipt, renderV3Token } from './render.js';
import { v3ResourceRoutes } from './resources.js';

export interface IdentityV3Options {
  deps: Deps;
  metrics: Metrics;
}

const SUBJECT_TOKEN_HEADER = 'x-subject-token';

/**
 * OpenStack Identity v3 as one encapsulated plugin: version discovery at `/` and `/v3`, and
 * `/v3/auth/tokens`, with Keystone's JSON error body. No rule lives here: logins go through the
 * same pipeline as v2.0 (a receipt is a third rendering of its MFA challenge), and who may see or
 * revoke a token is asked of the one authorization module.
 */
export async function identityV3Plugin(instance: FastifyInstance, options: IdentityV3Options): Promise<void> {
  const app = instance.withTypeProvider<TypeBoxTypeProvider>() as unknown as HttpServer;
  app.removeContentTypeParser('text/plain');
  const parseJson = app.getDefaultJsonParser('error', 'error');
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (request, body, done) => {
    if (body.length === 0) return done(null, undefined);
    return parseJson(request, body.toString(), done);
  });

  app.setErrorHandler(async (error: FastifyError | ApiError, request, reply) =>
    sendKeystoneError(request, reply, toApiError(error, request.log)),
  );

  // Control characters in its headers, URL and body are refused at the root (hostile-input.ts).

  // Browsers asking for `/` get the control panel instead (its route wants `page: 'html'`).
  app.get('/', { schema: discoveryDoc }, async (request, reply) => {
    const base = baseUrlOf(request);
    return reply
      .code(300)
      .header('Location', `${base}/v3/`)
      .send({ versions: { values: [versionDocument(base, 'v3'), versionDocument(base, 'v2.0')] } });
  });

  await app.register(v3Routes, { prefix: '/v3', ...options });
}

async function v3Routes(instance: FastifyInstance, options: IdentityV3Options): Promise<void> {
  const app = instance.withTypeProvider<TypeBoxTypeProvider>() as unknown as HttpServer;
  const { deps, metrics } = options;
  const knownPaths = new KnownPaths();
  app.addHook('onRoute', (route) => knownPaths.add(route.url, route.method));

  app.setNotFoundHandler(async (request, reply) => {
    const methods = knownPaths.methodsFor(request.url.split('?')[0] ?? '');
    if (methods) {
      reply.header('Allow', methods.join(', '));
      return sendKeystoneError(
        request,
        reply,
        new ApiError(
          405,
          'methodNotAllowed',
          `The method ${request.method} is not allowed for this resource.`,
        ),
      );
    }
    return sendKeystoneError(
      request,
      reply,
      new ApiError(404, 'itemNotFound', 'The resource could not be found.'),
    );
  });

  app.get('/', { schema: versionDoc }, async (request) => ({
    version: versionDocument(baseUrlOf(request), 'v3'),
  }));

  app.post(
    '/auth/tokens',
    { schema: loginDoc, config: { openapi: { body: V3AuthRequestSchema, headers: receiptHeader } } },
    async (request, reply) => {
      let method = 'v3.unknown';
      try {
        const parsed = parseV3AuthRequest(request.body, request);
        method = `v3.${parsed.login.credentials.type}`;
        const result = await login(deps, parsed.login).catch((error: unknown) => {
          // Keystone: a token that is not (or no longer) valid is not found.
          if (parsed.reauthenticated && error instanceof ApiError && error.status === 401)
            throw notFound(Messages.tokenNotFound);
          throw error;
        });
        if (result.kind === 'must-set-up-mfa') throw await result.refuse();
        metrics.logins.inc({ method, outcome: result.kind === 'token' ? 'success' : 'challenge' });
        if (result.kind === 'challenge') {
          const body = await renderReceipt(deps, result, deps.clock.now());
          return reply
            .code(401)
            .header(RECEIPT_HEADER, result.sessionId)
            .header('WWW-Authenticate', `Keystone uri="${baseUrlOf(request)}/v3"`)
            .send(body);
        }
        const body = await renderV3Token(deps, {
          token: result.token,
          user: result.user,
          reauthenticated: parsed.reauthenticated,
          includeCatalog: !hasQueryFlag(request, 'nocatalog'),
          base: baseUrlOf(request),
        });
        return reply.code(201).header('X-Subject-Token', result.token.id).send(body);
      } catch (error) {
        metrics.logins.inc({ method, outcome: 'failure' });
        throw error;
      }
    },
  );

  app.get(
    '/auth/tokens',
    { schema: validateDoc, config: { openapi: { headers: subjectHeader } } },
    async (request, reply) => {
      const caller = await requireCaller(deps, request, { kind: 'token-validation' });
      const subject = await subjectToken(deps, request, caller);
      if (!subject || subject.token.scope !== null) throw notFound(Messages.tokenNotFound);
      const owner = subject.user;
      if (!may(caller, { kind: 'token.validate-subject', owner })) {
        // Who may not validate others' tokens at all learns nothing about them.
        if (!may(caller, { kind: 'token.validate' })) throw notFound(Messages.tokenNotFound);
        authorize(caller, { kind: 'token.validate-subject', owner });
      }
      const body = await renderV3Token(deps, {
        token: {
          id: subject.id,
          issuedAt: subject.token.created_at,
          expiresAt: subject.token.expires_at,
          authenticatedBy: authMethodsOf(subject.token),
          scope: null,
        },
        user: owner,
        reauthenticated: false,
        includeCatalog: !hasQueryFlag(request, 'nocatalog'),
        base: baseUrlOf(request),
      });
      return reply.header('X-Subject-Token', subject.id).send(body);
    },
  );

  app.delete(
    '/auth/tokens',
    { schema: revokeDoc, config: { openapi: { headers: subjectHeader } } },
    async (request, reply) => {
      const caller = await requireCaller(deps, request, { kind: 'revocation' });
      const subject = await subjectToken(deps, request, caller);
      if (!subject) throw notFound(Messages.tokenNotFound);
      const self = subject.token.hash === caller.token.hash;
      const owner = subject.user;
      if (!self && !may(caller, { kind: 'token.revoke-subject', owner })) {
        if (!may(caller, { kind: 'token.revoke-other' })) throw notFound(Messages.tokenNotFound);
        authorize(caller, { kind: 'token.revoke-subject', owner });
      }
      await revokeToken(deps, subject.token, caller, owner);
      return reply.code(204).send();
    },
  );

  v3ResourceRoutes(app, deps);
}

const discoveryDoc = v3Operation({
  summary: 'Identity version discovery',
  description: 'API clients get the versions (300); browsers asking for HTML get the control panel instead.',
  tag: Tags.v3,
  auth: 'none',
  responses: {
    300: withHeaders(
      described(
        Type.Object({ versions: Type.Object({ values: Type.Array(VersionSchema) }) }),
        'v3 and v2.0.',
      ),
      { Location: Type.String({ description: '<base>/v3/' }) },
    ),
  },
});

const versionDoc = v3Operation({
  summary: 'The v3 version document',
  tag: Tags.v3,
  auth: 'none',
  responses: { 200: described(Type.Object({ version: VersionSchema }), 'Identity v3.') },
});

const loginDoc = v3Operation({
  summary: 'Log in (Keystone password, totp and token methods; auth receipts for MFA)',
  description: `A password alone for a user with MFA answers 401 with an auth receipt in ${RECEIPT_HEADER}; send it back with methods ["totp"] and the passcode. Or send methods ["password","totp"] in one request. The token is in X-Subject-Token; it works on v2.0 too.`,
  tag: Tags.v3,
  auth: 'none',
  responses: {
    201: tokenFound(described(V3TokenSchema, 'The token body; the token itself is in X-Subject-Token.')),
    ...loginFaults,
  },
});

const validateDoc = v3Operation({
  summary: 'Validate the token in X-Subject-Token',
  description:
    "Its own user may validate any of its tokens; others need the right to validate that user's tokens.",
  tag: Tags.v3,
  responses: {
    200: tokenFound(described(V3TokenSchema, 'The token body (?nocatalog leaves out the catalog).')),
    404: subjectNotFound,
  },
});

const revokeDoc = v3Operation({
  summary: 'Revoke the token in X-Subject-Token',
  tag: Tags.v3,
  responses: { 204: noContent('Revoked, on every instance at once.'), 404: subjectNotFound },
});

const receiptHeader = Type.Object({
  [RECEIPT_HEADER.toLowerCase()]: Type.Optional(
    Type.String({ description: 'The auth receipt of the first step, with methods ["totp"].' }),
  ),
});

/** The live token named by X-Subject-Token, with its user; the caller's own without a lookup. */
async function subjectToken(
  deps: Deps,
  request: FastifyRequest,
  caller: Caller,
): Promise<{ id: string; token: TokenRow; user: UserView } | undefined> {
  const header = request.headers[SUBJECT_TOKEN_HEADER];
  const id = typeof header === 'string' ? header.trim() : undefined;
  if (!id) return undefined;
  if (id === caller.tokenId) return { id, token: caller.token, user: caller.user };
  const found = await resolveToken(deps, id);
  return found && { id, token: found.token, user: found.view };
}

function hasQueryFlag(request: FastifyRequest, flag: string): boolean {
  return typeof request.query === 'object' && request.query !== null && flag in request.query;
}
