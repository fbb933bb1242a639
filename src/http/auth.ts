import type { FastifyRequest } from 'fastify';
import { type Access, authenticateCaller, type Caller } from '../access/caller.js';
import type { Deps } from '../services/deps.js';

export type { Caller };

export function sourceOf(request: FastifyRequest): string | null {
  return request.ip ?? null;
}

/** The X-Auth-Token caller, for the access the route needs (see authenticateCaller). */
export function requireCaller(
  deps: Deps,
  request: FastifyRequest,
  access: Access = { kind: 'account' },
): Promise<Caller> {
  const header = request.headers['x-auth-token'];
  const tokenId = Array.isArray(header) ? undefined : header;
  return authenticateCaller(deps, tokenId, sourceOf(request), access);
}
