import type { FastifyRequest } from 'fastify';
import { type TSchema, Type } from 'typebox';
import { authorize, SCOPED_VALIDATION_MESSAGE } from '../../../access/caller.js';
import { authMethodsOf, resolveToken, revokeToken, type TokenScope } from '../../../access/tokens.js';
import {
  type Credentials,
  challengeMessage,
  type LoginChallenge,
  type LoginRequest,
  login,
} from '../../../auth/login.js';
import { type ApiError, badRequest, Messages, notFound, unauthorized } from '../../../core/errors.js';
import { isJsonObject, type JsonObject } from '../../../core/json.js';
import { TOO_MANY_FAILURES } from '../../../lockout/source-failures.js';
import type { Deps } from '../../../services/deps.js';
import type { TokenRow } from '../../../store/schema.js';
import { requireCaller, sourceOf } from '../../auth.js';
import { renderCatalog } from '../../common-render.js';
import { sendFault } from '../../faults.js';
import type { Metrics } from '../../metrics.js';
import { described, fault, noContent, notFoundFault, operation, Tags } from '../../openapi.js';
import type { HttpServer } from '../../server-instance.js';
import { hexId } from '../ids.js';
import { renderAccess } from '../render.js';
import { AccessSchema, AuthRequestSchema, EndpointsSchema } from '../schemas.js';
import { challengeHeader, PASSCODE_SENT_TO_HEADER, SESSION_ID_HEADER } from '../wire.js';

function requiredString(container: JsonObject, key: string, max: number): string {
  const value = container[key];
  if (typeof value !== 'string' || value === '' || value.length > max) {
    throw badRequest(`Invalid request: '${key}' must be a non-empty string of at most ${max} characters.`);
  }
  return value;
}

function optionalString(container: JsonObject, key: string): string | undefined {
  const value = container[key];
  if (value === undefined) return undefined;
  if (typeof value !== 'string' || value === '' || value.length > 64) {
    throw badRequest(`Invalid request: '${key}' must be a string.`);
  }
  return value;
}

const CREDENTIAL_KEYS = [
  'passwordCredentials',
  'RAX-KSKEY:apiKeyCredentials',
  'token',
  'RAX-AUTH:passcodeCredentials',
];
const OTHER_AUTH_KEYS = new Set(['tenantId', 'tenantName', 'RAX-AUTH:scope', 'RAX-AUTH:domain']);

/** Read POST /v2.0/tokens by hand: the reference fixes the wording of each malformed case (§2.3). */
export function parseAuthRequest(body: unknown, request: FastifyRequest): LoginRequest {
  if (!isJsonObject(body) || !isJsonObject(body.auth)) throw badRequest(Messages.noCredentials);
  const auth = body.auth;
  const present = CREDENTIAL_KEYS.filter((key) => key in auth);
  const unknown = Object.keys(auth).filter(
    (key) => !CREDENTIAL_KEYS.includes(key) && !OTHER_AUTH_KEYS.has(key),
  );
  if (present.length === 0)
    throw badRequest(unknown.length > 0 ? Messages.unknownCredential : Messages.noCredentials);
  if (present.length > 1) throw badRequest(Messages.unknownCredential);
  const [kind] = present;
  const inner = auth[kind ?? ''];
  if (!isJsonObject(inner)) throw badRequest(Messages.noCredentials);

  let tenantId = optionalString(auth, 'tenantId');
  let tenantName = optionalString(auth, 'tenantName');
  let credentials: Credentials;
  switch (kind) {
    case 'passwordCredentials':
      credentials = {
        type: 'password',
        username: requiredString(inner, 'username', 255),
        password: requiredString(inner, 'password', 1024),
      };
      // The reference shows tenants inside passwordCredentials too; accept both places.
      tenantId ??= optionalString(inner, 'tenantId');
      tenantName ??= optionalString(inner, 'tenantName');
      break;
    case 'RAX-KSKEY:apiKeyCredentials':
      credentials = {
        type: 'apiKey',
        username: requiredString(inner, 'username', 255),
        apiKey: requiredString(inner, 'apiKey', 256),
      };
      break;
    case 'token':
      credentials = { type: 'token', tokenId: requiredString(inner, 'id', 256) };
      break;
    default: {
      const header = request.headers['x-sessionid'];
      const values = header === undefined ? [] : Array.isArray(header) ? header : [header];
      const sessionIds = values
        .flatMap((value) => value.split(','))
        .map((value) => value.trim())
        .filter((value) => value !== '');
      credentials = { type: 'passcode', sessionIds, passcode: requiredString(inner, 'passcode', 64) };
    }
  }
  const rawScope = auth['RAX-AUTH:scope'];
  if (rawScope !== undefined && rawScope !== 'SETUP-MFA') {
    throw badRequest("Invalid request: 'RAX-AUTH:scope' must be SETUP-MFA.");
  }
  return {
    credentials,
    ...(tenantId === undefined ? {} : { tenantId }),
    ...(tenantName === undefined ? {} : { tenantName }),
    scope: (rawScope as TokenScope | undefined) ?? null,
    source: sourceOf(request),
  };
}

/** The OS-MF challenge (reference §4.5): 401, with the session id and factor in WWW-Authenticate. */
export function challengeFault(challenge: LoginChallenge): ApiError {
  const factor = challenge.factor === 'OTP' ? 'OTPPASSCODE' : 'PASSCODE';
  return unauthorized(challengeMessage(challenge), {
    'WWW-Authenticate': challengeHeader(challenge.sessionId, factor),
    ...(challenge.sentTo === undefined ? {} : { [PASSCODE_SENT_TO_HEADER]: challenge.sentTo }),
  });
}

const tokenParams = Type.Object({ tokenId: hexId() });
const validationQuery = Type.Object({
  belongsTo: Type.Optional(
    Type.String({ maxLength: 64, description: 'A domain (tenant) id: 404 unless the token belongs to it.' }),
  ),
});

const retryAfter = { 'Retry-After': Type.String({ description: 'Seconds to wait.' }) };

const loginDoc = operation({
  summary: 'Log in: get a token, or the MFA challenge (step 1) and then the token (step 2)',
  description: `One credential per request. A password of a user with MFA answers 401 with \`WWW-Authenticate: OS-MF sessionId='…', factor='OTPPASSCODE'\` (or \`'PASSCODE'\` for SMS, which is sent now); step 2 sends \`RAX-AUTH:passcodeCredentials\` with the session id in \`${SESSION_ID_HEADER}\` (valid 5 minutes, spent by the successful step 2). API keys skip MFA. \`"RAX-AUTH:scope":"SETUP-MFA"\` with a password gives a one-hour token for the user's own multi-factor calls only, for users who must set up MFA.`,
  tag: Tags.tokens,
  auth: 'none',
  responses: {
    200: described(AccessSchema, 'The token, its user and the service catalog.'),
    400: fault(400, 'A malformed request body.', [
      Messages.noCredentials,
      Messages.unknownCredential,
      Messages.passcodeWithoutMfa,
      Messages.tenantIdAndName,
      Messages.invalidSessionId,
      "Invalid request: 'username' must be a non-empty string of at most 255 characters.",
      "Invalid request: 'RAX-AUTH:scope' must be SETUP-MFA.",
    ]),
    401: fault(
      401,
      `Wrong credentials; or the MFA challenge (WWW-Authenticate; for SMS also ${PASSCODE_SENT_TO_HEADER}, a latchkey extension); or a wrong, expired or rejected step 2.`,
      [
        Messages.challenge,
        Messages.badPassword,
        Messages.badApiKey,
        Messages.badToken,
        Messages.tenantNotAuthorized,
        Messages.wrongPasscode,
        Messages.sessionExpired,
        Messages.locked,
      ],
      {
        'WWW-Authenticate': Type.String({
          description: "On the challenge: OS-MF sessionId='<id>', factor='OTPPASSCODE' or 'PASSCODE'.",
        }),
        [PASSCODE_SENT_TO_HEADER]: Type.String({
          description:
            'Latchkey extension, on an SMS challenge: the masked number the passcode went to (+1******0123).',
        }),
      },
    ),
    403: fault(
      403,
      'MFA is required and not set up (use the SETUP-MFA scope); the passcode that reached the lock; a disabled user; the SETUP-MFA scope with passcode credentials.',
      [Messages.mustSetupMfa, Messages.locked, Messages.scopeNotSupported, "User 'alice' is disabled."],
    ),
    429: fault(
      429,
      'Too many failed logins from this address (LATCHKEY_LOGIN_FAILURES_PER_SOURCE), answered before any password is checked.',
      [TOO_MANY_FAILURES],
      retryAfter,
    ),
  },
});

const validationDoc = (summary: string, ok: TSchema) =>
  operation({
    summary,
    description:
      'Any caller may validate its own token; validating another needs identity:admin or identity:service-admin, or an account owner (identity:user-admin) for the users of its own account. SETUP-MFA tokens are never valid here.',
    tag: Tags.tokens,
    responses: {
      200: ok,
      403: fault(403, 'The caller may not validate that token.', [
        Messages.notAuthorized,
        SCOPED_VALIDATION_MESSAGE,
      ]),
      404: notFoundFault(Messages.tokenNotFound),
    },
  });

const revokeDoc = (summary: string, pathToken: boolean) => {
  const responses: Record<number, TSchema> = {
    204: noContent('Revoked: at once on this instance, within a second on every other.'),
  };
  if (pathToken) responses[404] = notFoundFault(Messages.tokenNotFound);
  return operation({ summary, tag: Tags.tokens, responses });
};

/**
 * A validation answer depends only on the token row and the user row read with it, so while
 * the embedded store keeps handing back the same remembered row (until a write that may change
 * it, see access/validation-cache.ts) the answer is the same bytes: render them once. Keyed weakly
 * by that row, so the text goes when the row is forgotten (at once where rows are read afresh).
 */
const renderedValidations = new WeakMap<TokenRow, string>();

export function registerTokenRoutes(app: HttpServer, deps: Deps, metrics: Metrics): void {
  app.post(
    '/v2.0/tokens',
    {
      schema: loginDoc,
      config: {
        openapi: {
          body: AuthRequestSchema,
          headers: Type.Object({
            [SESSION_ID_HEADER.toLowerCase()]: Type.Optional(
              Type.String({ description: 'Step 2: the sessionId of the challenge.' }),
            ),
          }),
        },
      },
    },
    async (request, reply) => {
      let method = 'unknown';
      try {
        const loginRequest = parseAuthRequest(request.body, request);
        method = loginRequest.credentials.type;
        const result = await login(deps, loginRequest);
        if (result.kind === 'must-set-up-mfa') throw await result.refuse();
        metrics.logins.inc({ method, outcome: result.kind === 'token' ? 'success' : 'challenge' });
        if (result.kind === 'challenge') return sendFault(reply, challengeFault(result));
        return reply.code(200).send(renderAccess(deps, result, { catalog: true }));
      } catch (error) {
        metrics.logins.inc({ method, outcome: 'failure' });
        throw error;
      }
    },
  );

  const inspect = async (request: FastifyRequest, tokenId: string, belongsTo: string | undefined) => {
    const caller = await requireCaller(deps, request, { kind: 'token-validation' });
    const self = tokenId === caller.tokenId;
    // Rights first: a caller who may only validate its own token learns nothing about others.
    if (!self) authorize(caller, { kind: 'token.validate' });
    // Validating one's own token: the caller's lookup already found it live.
    const found = self ? undefined : await resolveToken(deps, tokenId);
    const target = self
      ? { id: caller.tokenId, token: caller.token, user: caller.user }
      : found && { id: tokenId, token: found.token, user: found.view };
    if (!target || target.token.scope !== null) throw notFound(Messages.tokenNotFound);
    if (!self) authorize(caller, { kind: 'token.validate', owner: target.user });
    if (belongsTo !== undefined && belongsTo !== target.user.domain_id)
      throw notFound(Messages.tokenNotFound);
    return target;
  };

  app.get(
    '/v2.0/tokens/:tokenId',
    {
      schema: {
        params: tokenParams,
        querystring: validationQuery,
        ...validationDoc(
          'Validate a token',
          described(AccessSchema, 'The token and its user, without the catalog.'),
        ),
      },
    },
    async (request, reply) => {
      const target = await inspect(request, request.params.tokenId, request.query.belongsTo);
      let body = renderedValidations.get(target.token);
      if (body === undefined) {
        body = JSON.stringify(
          renderAccess(
            deps,
            {
              token: {
                id: target.id,
                issuedAt: target.token.created_at,
                expiresAt: target.token.expires_at,
                authenticatedBy: authMethodsOf(target.token),
                scope: null,
              },
              user: target.user,
              tenantId: null,
            },
            { catalog: false },
          ),
        );
        renderedValidations.set(target.token, body);
      }
      return reply.type('application/json; charset=utf-8').send(body);
    },
  );

  app.get(
    '/v2.0/tokens/:tokenId/endpoints',
    {
      schema: {
        params: tokenParams,
        querystring: validationQuery,
        ...validationDoc(
          "The endpoints of a token's catalog",
          described(EndpointsSchema, "The catalog's endpoints, numbered."),
        ),
      },
    },
    async (request) => {
      const target = await inspect(request, request.params.tokenId, request.query.belongsTo);
      const catalog = renderCatalog(deps, target.user.domain_id) as JsonObject[];
      let id = 0;
      const endpoints = catalog.flatMap((service) =>
        (Array.isArray(service.endpoints) ? (service.endpoints as JsonObject[]) : []).map((endpoint) => ({
          id: ++id,
          name: service.name,
          type: service.type,
          ...endpoint,
        })),
      );
      return { endpoints, endpoints_links: [] };
    },
  );

  app.delete(
    '/v2.0/tokens',
    { schema: revokeDoc("Revoke the caller's own token", false) },
    async (request, reply) => {
      const caller = await requireCaller(deps, request, { kind: 'revocation' });
      await revokeToken(deps, caller.token, caller, caller.user);
      return reply.code(204).send();
    },
  );

  app.delete(
    '/v2.0/tokens/:tokenId',
    { schema: { params: tokenParams, ...revokeDoc("Revoke another token (or one's own)", true) } },
    async (request, reply) => {
      const caller = await requireCaller(deps, request, { kind: 'revocation' });
      const target = await resolveToken(deps, request.params.tokenId);
      const self = target !== undefined && target.token.hash === caller.token.hash;
      if (!self) {
        authorize(caller, { kind: 'token.revoke-other' });
        if (!target) throw notFound(Messages.tokenNotFound);
        authorize(caller, { kind: 'token.revoke-other', owner: target.user });
      }
      if (!target) throw notFound(Messages.tokenNotFound);
      await revokeToken(deps, target.token, caller, target.user);
      return reply.code(204).send();
    },
  );
}
