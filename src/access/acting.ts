import type { Actor } from '../services/deps.js';
import type { UserView } from '../store/schema.js';

/**
 * A token's scope: SETUP-MFA may only set up its own user's multi-factor authentication;
 * ADD-PASSKEY (the panel's, never asked for on the API) may only add its own user's passkey,
 * for a user whose account requires passkeys and who has none yet.
 */
export type TokenScope = 'SETUP-MFA' | 'ADD-PASSKEY';

/**
 * Who is acting, the one shape every surface hands the domain: the user behind the token (or
 * panel session), the token's scope and where the request came from. A Caller (caller.ts) is
 * one; domain entry points authorize with it and record it as the actor of what they change.
 */
export interface Acting {
  user: UserView;
  scope: TokenScope | null;
  source: string | null;
}

/** How an action by `acting` is recorded in the security events. */
export function auditActor(acting: Pick<Acting, 'user' | 'source'>): Actor {
  return { userId: acting.user.id, source: acting.source };
}
