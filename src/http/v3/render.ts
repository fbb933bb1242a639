import { createHash } from 'node:crypto';
import { rolesHeld } from '../../access/roles.js';
import type { AuthMethod } from '../../access/tokens.js';
import {
  challengeExplained,
  challengeMessage,
  type LoginChallenge,
  type LoginSuccess,
} from '../../auth/login.js';
import { isJsonObject, type JsonObject } from '../../core/json.js';
import { domainOfUser } from '../../identity/domains.js';
import type { Deps } from '../../services/deps.js';
import type { UserView } from '../../store/schema.js';
import { iso, renderCatalog } from '../common-render.js';

/** Keystone's method names for how a token was obtained; an API key is latchkey's own `apikey`. */
const METHOD_NAMES: Record<AuthMethod, string> = {
  PASSWORD: 'password',
  OTPPASSCODE: 'totp',
  PASSCODE: 'totp',
  APIKEY: 'apikey',
  // Ours: Keystone has no WebAuthn method.
  PASSKEY: 'passkey',
};
const METHOD_ORDER = ['token', 'password', 'totp', 'passkey', 'apikey'];

export function v3Methods(authenticatedBy: AuthMethod[], reauthenticated: boolean): string[] {
  const names = new Set(authenticatedBy.map((method) => METHOD_NAMES[method]));
  if (reauthenticated) names.add('token');
  return [...names].sort((a, b) => METHOD_ORDER.indexOf(a) - METHOD_ORDER.indexOf(b));
}

/**
 * A token's audit id: names the token in logs and events without being it. A domain-separated
 * digest of the id, so it is stable for the token's life and reveals nothing of it.
 */
export function auditIdOf(tokenId: string): string {
  return createHash('sha256').update(`latchkey audit id\0${tokenId}`).digest('base64url').slice(0, 22);
}

/** Stable ids for catalog entries that have none of their own. */
function catalogId(...parts: (string | null)[]): string {
  return createHash('sha256')
    .update(parts.map((part) => part ?? '').join('\0'))
    .digest('hex')
    .slice(0, 32);
}

const INTERFACES: [string, string][] = [
  ['publicURL', 'public'],
  ['internalURL', 'internal'],
  ['adminURL', 'admin'],
];

interface V3Endpoint {
  id: string;
  interface: string;
  region: string | null;
  region_id: string | null;
  url: string;
}

/** One v2.0 endpoint (publicURL, internalURL, adminURL) as v3 endpoints, one per interface. */
function v3Endpoints(service: string, endpoint: JsonObject): V3Endpoint[] {
  const region = typeof endpoint.region === 'string' ? endpoint.region : null;
  if (typeof endpoint.url === 'string') {
    const face = typeof endpoint.interface === 'string' ? endpoint.interface : 'public';
    const id = typeof endpoint.id === 'string' ? endpoint.id : catalogId(service, region, face, endpoint.url);
    return [{ id, interface: face, region, region_id: region, url: endpoint.url }];
  }
  return INTERFACES.flatMap(([key, face]) => {
    const url = endpoint[key];
    if (typeof url !== 'string') return [];
    return [{ id: catalogId(service, region, face, url), interface: face, region, region_id: region, url }];
  });
}

/**
 * The configured catalog as Identity v3 lists it, plus this service's own `identity` entry at
 * `<base>/v3`: in every region the catalog names (clients filter endpoints by region), or without
 * a region when it names none.
 */
export function v3Catalog(deps: Deps, tenantId: string | null, base: string): JsonObject[] {
  const regions = new Set<string | null>();
  const services: JsonObject[] = [];
  for (const service of renderCatalog(deps, tenantId)) {
    if (!isJsonObject(service)) continue;
    const type = typeof service.type === 'string' ? service.type : '';
    const name = typeof service.name === 'string' ? service.name : type;
    const serviceKey = `${type}\0${name}`;
    const endpoints = (Array.isArray(service.endpoints) ? service.endpoints : [])
      .filter(isJsonObject)
      .flatMap((endpoint) => v3Endpoints(serviceKey, endpoint));
    for (const endpoint of endpoints) regions.add(endpoint.region);
    services.push({
      id: typeof service.id === 'string' ? service.id : catalogId(serviceKey),
      name,
      type,
      endpoints,
    });
  }
  if (regions.size === 0) regions.add(null);
  const url = `${base}/v3`;
  const identityEndpoints = [...regions].flatMap((region) =>
    ['public', 'internal', 'admin'].map((face) => ({
      id: catalogId('identity', region, face, url),
      interface: face,
      region,
      region_id: region,
      url,
    })),
  );
  return [
    {
      id: catalogId('identity', 'latchkey'),
      name: 'latchkey',
      type: 'identity',
      endpoints: identityEndpoints,
    },
    ...services,
  ];
}

/**
 * The domain of a user view, kept while that view is (weakly): a validated token's view is the
 * same object for as long as the validation cache keeps its answer, and a write to the domain
 * drops that answer (access/validation-cache.ts), so validation does not read it again.
 */
const domainsOfViews = new WeakMap<UserView, { id: string; name: string }>();

async function userBody(
  deps: Deps,
  user: UserView,
): Promise<{ body: JsonObject; domain: { id: string; name: string } }> {
  let domain = domainsOfViews.get(user);
  if (domain === undefined) {
    domain = await domainOfUser(deps.db, user);
    if (Object.isFrozen(user)) domainsOfViews.set(user, domain);
  }
  return {
    body: { id: user.id, name: user.username, domain, password_expires_at: null },
    domain,
  };
}

export interface V3TokenView {
  token: LoginSuccess['token'];
  user: UserView;
  reauthenticated: boolean;
  includeCatalog: boolean;
  base: string;
}

/**
 * The `token` body of Keystone's token responses. The domain is the user's account (users
 * without one are in `default`), the project is the account's tenant, roles keep their names.
 */
export async function renderV3Token(deps: Deps, view: V3TokenView): Promise<{ token: JsonObject }> {
  const { token, user } = view;
  const { body: userJson, domain } = await userBody(deps, user);
  const body: JsonObject = {
    methods: v3Methods(token.authenticatedBy, view.reauthenticated),
    user: userJson,
    audit_ids: [auditIdOf(token.id)],
    expires_at: iso(token.expiresAt),
    issued_at: iso(token.issuedAt),
  };
  // A user outside any account has no project: its token is unscoped, which Keystone renders
  // without roles or a catalog.
  if (user.domain_id === null) return { token: body };
  body.project = { id: user.domain_id, name: user.domain_id, domain };
  body.is_domain = false;
  body.roles = rolesHeld(user.role).map((role) => ({ id: role.id, name: role.name }));
  if (view.includeCatalog) body.catalog = v3Catalog(deps, user.domain_id, view.base);
  return { token: body };
}

/** An auth receipt (Keystone's `keystone/receipt/handlers.py` body) for a pending MFA login. */
export async function renderReceipt(
  deps: Deps,
  challenge: LoginChallenge,
  issuedAt: number,
): Promise<{ receipt: JsonObject; required_auth_methods: string[][]; error?: ReceiptNote }> {
  const { body } = await userBody(deps, challenge.user);
  const { password_expires_at: _unused, ...user } = body;
  return {
    receipt: {
      expires_at: iso(issuedAt + deps.config.mfaSessionTtlSeconds * 1000),
      issued_at: iso(issuedAt),
      methods: ['password'],
      user,
    },
    required_auth_methods: [['password', 'totp']],
    // Keystone's receipt has no message; when there is something to say (a passkey user, whose
    // passkey works in the panel only; an SMS not sent), it comes in Keystone's error object
    // beside it, as v2.0 says it in its challenge. keystoneauth reads the receipt alone.
    ...(challengeExplained(challenge)
      ? { error: { code: 401, title: 'Unauthorized', message: challengeMessage(challenge) } }
      : {}),
  };
}

/** Why a receipt's user must answer with a passcode, in Keystone's error shape. */
interface ReceiptNote {
  code: 401;
  title: 'Unauthorized';
  message: string;
}
