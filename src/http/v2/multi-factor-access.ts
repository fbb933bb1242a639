import type { FastifyRequest } from 'fastify';
import { requirePrecedence } from '../../identity/users.js';
import type { Deps } from '../../services/deps.js';
import type { UserView } from '../../store/schema.js';
import { type Caller, requireCaller } from '../auth.js';

/**
 * Caller and target of a /v2.0/users/{userId}/RAX-AUTH/multi-factor/... call (reference §7.0):
 * a SETUP-MFA token passes for its own user, then self or precedence; unknown user → 404.
 */
export async function multiFactorTarget(
  deps: Deps,
  request: FastifyRequest,
  userId: string,
): Promise<{ caller: Caller; target: UserView }> {
  const caller = await requireCaller(deps, request, { kind: 'multi-factor', userId });
  const target = await requirePrecedence(deps, caller, userId);
  return { caller, target };
}
