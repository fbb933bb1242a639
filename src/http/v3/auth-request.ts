import type { FastifyRequest } from 'fastify';
import type { Credentials, LoginRequest } from '../../auth/login.js';
import { type ApiError, badRequest, unauthorized } from '../../core/errors.js';
import { isJsonObject, type JsonObject } from '../../core/json.js';
import type { DomainReference, UserReference } from '../../identity/users.js';
import { sourceOf } from '../auth.js';

/** The header that carries an auth receipt (Keystone's `AUTH_RECEIPT_HEADER`). */
export const RECEIPT_HEADER = 'Openstack-Auth-Receipt';

export const V3Messages = {
  unsupportedMethod: 'Attempted to authenticate with an unsupported method.',
  passcodeAlone:
    'A totp passcode alone is not enough: send it with the password (methods ["password","totp"]), or send the password first and then the passcode with the auth receipt you get back.',
  receiptWithTotpOnly:
    'With an auth receipt, send the totp method alone: the receipt stands for the password already given.',
  noReceipt: 'Could not find auth receipt.',
  differentUsers: 'The password and totp methods must name the same user.',
  /**
   * Keystone's 400 for a totp method without its passcode (what the stock client sends with
   * v3multifactor and no --os-passcode), followed by what to do about it.
   */
  passcodeMissing:
    'Invalid request: expecting to find passcode in user. Give the passcode from your authenticator app (or a bypass or temporary code): openstack --os-passcode CODE, or OS_PASSCODE; or send the password alone and the passcode with the auth receipt you get back.',
  domainScope:
    "Domain-scoped tokens are not available: tokens are scoped to the account's project (its id is the domain id). Leave the scope out or name that project.",
  systemScope: 'System-scoped tokens are not available.',
  trustScope: 'Trusts are not supported.',
} as const;

function missing(attribute: string, target: string): ApiError {
  return badRequest(`Invalid request: expecting to find ${attribute} in ${target}.`);
}

/** The totp method's passcode; its absence is answered with the way to give it. */
function passcodeAt(totp: JsonObject): string {
  const user = objectAt(totp, 'user', 'totp');
  if (user.passcode === undefined || user.passcode === null) throw badRequest(V3Messages.passcodeMissing);
  return stringAt(user, 'passcode', 'user', 64);
}

function stringAt(container: JsonObject, key: string, target: string, max: number): string {
  const value = container[key];
  if (value === undefined || value === null) throw missing(key, target);
  if (typeof value !== 'string' || value === '' || value.length > max) {
    throw badRequest(
      `Invalid request: '${key}' in ${target} must be a non-empty string of at most ${max} characters.`,
    );
  }
  return value;
}

function optionalStringAt(
  container: JsonObject,
  key: string,
  target: string,
  max: number,
): string | undefined {
  const value = container[key];
  if (value === undefined || value === null) return undefined;
  return stringAt(container, key, target, max);
}

function objectAt(container: JsonObject, key: string, target: string): JsonObject {
  const value = container[key];
  if (value === undefined || value === null) throw missing(key, target);
  if (!isJsonObject(value)) throw badRequest(`Invalid request: '${key}' in ${target} must be an object.`);
  return value;
}

function domainReference(container: JsonObject, target: string): DomainReference {
  const domain = objectAt(container, 'domain', target);
  const id = optionalStringAt(domain, 'id', 'domain', 64);
  if (id !== undefined) return { id };
  const name = optionalStringAt(domain, 'name', 'domain', 255);
  if (name !== undefined) return { name };
  throw missing('id or name', 'domain');
}

function userReference(method: JsonObject, target: string): UserReference {
  const user = objectAt(method, 'user', target);
  const id = optionalStringAt(user, 'id', 'user', 64);
  if (id !== undefined) return { id };
  const name = optionalStringAt(user, 'name', 'user', 255);
  if (name === undefined) throw missing('id or name', 'user');
  return { name, domain: domainReference(user, 'user') };
}

function sameReference(a: UserReference, b: UserReference): boolean {
  if ('id' in a || 'id' in b) return 'id' in a && 'id' in b && a.id === b.id;
  const sameDomain =
    'id' in a.domain
      ? 'id' in b.domain && a.domain.id === b.domain.id
      : 'name' in b.domain && a.domain.name === b.domain.name;
  return a.name.toLowerCase() === b.name.toLowerCase() && sameDomain;
}

function receiptOf(request: FastifyRequest): string | undefined {
  const header = request.headers[RECEIPT_HEADER.toLowerCase()];
  if (header === undefined) return undefined;
  const value = Array.isArray(header) ? header.join(',') : header;
  return value.trim();
}

/** The project the token is asked for: its id, or its name (an account's project is named by its id). */
function scopeOf(auth: JsonObject): Pick<LoginRequest, 'tenantId' | 'tenantName'> {
  const scope = auth.scope;
  // `"unscoped"` asks for no project; latchkey tokens carry the account's project either way.
  if (scope === undefined || scope === null || scope === 'unscoped') return {};
  if (!isJsonObject(scope)) throw badRequest('Invalid request: \'scope\' must be an object or "unscoped".');
  if ('domain' in scope) throw badRequest(V3Messages.domainScope);
  if ('system' in scope) throw badRequest(V3Messages.systemScope);
  if ('OS-TRUST:trust' in scope) throw badRequest(V3Messages.trustScope);
  if (!('project' in scope)) throw missing('project', 'scope');
  const project = objectAt(scope, 'project', 'scope');
  const id = optionalStringAt(project, 'id', 'project', 64);
  if (id !== undefined) return { tenantId: id };
  const name = optionalStringAt(project, 'name', 'project', 64);
  if (name === undefined) throw missing('id or name', 'project');
  // Validated for shape only: a project name is an account id, unique without its domain.
  if (project.domain !== undefined) domainReference(project, 'project');
  return { tenantName: name };
}

export interface V3AuthRequest {
  login: LoginRequest;
  /** The `token` method: the answer lists it before the methods the token was obtained with. */
  reauthenticated: boolean;
}

/**
 * Read POST /v3/auth/tokens (Keystone's `auth.identity` with its `methods` list) into one of
 * the pipeline's credentials: the password; the password and a passcode together; a passcode
 * with the auth receipt of an earlier password step; or an existing token.
 */
export function parseV3AuthRequest(body: unknown, request: FastifyRequest): V3AuthRequest {
  if (!isJsonObject(body)) throw missing('auth', 'the request body');
  const auth = objectAt(body, 'auth', 'the request body');
  const identity = objectAt(auth, 'identity', 'auth');
  const rawMethods = identity.methods;
  if (
    !Array.isArray(rawMethods) ||
    rawMethods.length === 0 ||
    rawMethods.length > 8 ||
    !rawMethods.every((method): method is string => typeof method === 'string')
  ) {
    throw badRequest("Invalid request: 'methods' in identity must be a non-empty list of method names.");
  }
  const methods = new Set(rawMethods);
  if (methods.size !== rawMethods.length)
    throw badRequest("Invalid request: 'methods' lists a method twice.");
  for (const method of methods) {
    if (method !== 'password' && method !== 'totp' && method !== 'token')
      throw unauthorized(V3Messages.unsupportedMethod);
  }
  const receipt = receiptOf(request);
  if (receipt === '' || (receipt !== undefined && receipt.length > 512))
    throw unauthorized(V3Messages.noReceipt);
  const scope = scopeOf(auth);
  const source = sourceOf(request);
  const loginOf = (credentials: Credentials): LoginRequest => ({
    credentials,
    ...scope,
    scope: null,
    source,
  });

  if (receipt !== undefined) {
    if (methods.size !== 1 || !methods.has('totp')) throw badRequest(V3Messages.receiptWithTotpOnly);
    const totp = objectAt(identity, 'totp', 'identity');
    const passcode = passcodeAt(totp);
    // The receipt names the user; the totp user (which clients send as well) is only checked
    // for shape.
    userReference(totp, 'totp');
    return {
      login: loginOf({ type: 'passcode', sessionIds: [receipt], passcode }),
      reauthenticated: false,
    };
  }

  if (methods.has('token')) {
    if (methods.size !== 1) throw unauthorized(V3Messages.unsupportedMethod);
    const token = objectAt(identity, 'token', 'identity');
    return {
      login: loginOf({ type: 'token', tokenId: stringAt(token, 'id', 'token', 256) }),
      reauthenticated: true,
    };
  }

  if (!methods.has('password')) throw unauthorized(V3Messages.passcodeAlone);
  const passwordMethod = objectAt(identity, 'password', 'identity');
  const user = userReference(passwordMethod, 'password');
  const password = stringAt(objectAt(passwordMethod, 'user', 'password'), 'password', 'user', 1024);
  if (!methods.has('totp')) {
    return { login: loginOf({ type: 'password', user, password }), reauthenticated: false };
  }
  const totpMethod = objectAt(identity, 'totp', 'identity');
  const totpUser = userReference(totpMethod, 'totp');
  if (!sameReference(user, totpUser)) throw badRequest(V3Messages.differentUsers);
  const passcode = passcodeAt(totpMethod);
  return {
    login: loginOf({ type: 'passwordAndPasscode', user, password, passcode }),
    reauthenticated: false,
  };
}
