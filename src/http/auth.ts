import type { FastifyRequest } from 'fastify';
import { resolveToken } from '../auth/tokens.js';
import type { Deps } from '../deps.js';
import { forbidden, Messages, unauthorized, userDisabled } from '../errors.js';
import type { TokenRow, UserRow } from '../store/schema.js';

export interface Caller {
  tokenId: string;
  token: TokenRow;
  user: UserRow;
  source: string | null;
}

export function sourceOf(request: FastifyRequest): string | null {
  return request.ip ?? null;
}

/**
 * The X-Auth-Token caller. A SETUP-MFA token passes only on its own user's multi-factor
 * routes while that user has no MFA (reference §4.6); this is checked before any other rule.
 */
export async function requireCaller(
  deps: Deps,
  request: FastifyRequest,
  options: { setupMfaUserId?: string; scopedMessage?: string; allowScoped?: boolean } = {},
): Promise<Caller> {
  const header = request.headers['x-auth-token'];
  const tokenId = Array.isArray(header) ? undefined : header;
  const resolved = tokenId ? await resolveToken(deps, tokenId) : undefined;
  if (!resolved || !tokenId) throw unauthorized(Messages.noToken);
  if (resolved.token.scope !== null && !options.allowScoped) {
    if (options.scopedMessage) throw forbidden(options.scopedMessage);
    const allowed =
      resolved.token.scope === 'SETUP-MFA' &&
      options.setupMfaUserId === resolved.user.id &&
      resolved.user.mfa_enabled === 0;
    if (!allowed) throw forbidden(Messages.scopeForbids);
  }
  if (!resolved.user.enabled) throw userDisabled(resolved.user.username);
  return { tokenId, token: resolved.token, user: resolved.user, source: sourceOf(request) };
}
