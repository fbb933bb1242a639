import { forbidden, Messages, unauthorized, userDisabled } from '../core/errors.js';
import type { Deps } from '../services/deps.js';
import type { TokenRow, UserView } from '../store/schema.js';
import type { Acting } from './acting.js';
import { atLeast, hasPrecedence, type RoleName, roleCreatedBy, rolesGrantableBy } from './roles.js';
import { resolveToken, type TokenScope } from './tokens.js';

/**
 * Who may do what to whom: the one place the API, the panel and any later surface ask. Each
 * surface resolves its credential (a header, a cookie) into a Caller with authenticateCaller,
 * and domain functions call authorize() before they act.
 */

export type { Acting } from './acting.js';

/** The one acting (acting.ts) as a surface resolved it: a live token, its user, scope and source. */
export interface Caller extends Acting {
  tokenId: string;
  token: TokenRow;
}

/** What a rule needs to know of the one acting: who, and under which scope. */
type RuleSubject = Pick<Acting, 'user' | 'scope'>;

/** What the caller presents its token for; decides what a scoped (SETUP-MFA) token may do. */
export type Access =
  /** Any ordinary call: a scoped token is refused. */
  | { kind: 'account' }
  /** A user's multi-factor calls: SETUP-MFA passes for its own user while that user has no MFA. */
  | { kind: 'multi-factor'; userId: string }
  /** The caller's own multi-factor setup (the panel's forced setup): 'multi-factor' on itself. */
  | { kind: 'own-multi-factor' }
  /** Adding the caller's own passkey (the panel): an unscoped token, or an ADD-PASSKEY one. */
  | { kind: 'own-passkey' }
  /** Validating tokens: scoped tokens are refused with their own message. */
  | { kind: 'token-validation' }
  /** Revoking: any live token, scoped or not; authorize() decides whose. */
  | { kind: 'revocation' };

export const SCOPED_VALIDATION_MESSAGE = 'Cannot use scoped tokens to validate tokens.';

/**
 * A presented token as a Caller. The scope rule comes before any other (reference §4.6), so a
 * SETUP-MFA token learns nothing about other users, not even whether they exist.
 */
export async function authenticateCaller(
  deps: Deps,
  tokenId: string | undefined,
  source: string | null,
  access: Access,
): Promise<Caller> {
  const resolved = tokenId ? await resolveToken(deps, tokenId) : undefined;
  if (!resolved || !tokenId) throw unauthorized(Messages.noToken);
  const caller: Caller = {
    tokenId,
    token: resolved.token,
    user: resolved.view,
    scope: resolved.token.scope as TokenScope | null,
    source,
  };
  const refusal = scopeRefusal(caller, access);
  if (refusal === 'scoped-validation') throw forbidden(SCOPED_VALIDATION_MESSAGE);
  if (refusal === 'scope-forbids') throw forbidden(Messages.scopeForbids).because('scope-forbids');
  if (!caller.user.enabled) throw userDisabled(caller.user.username);
  return caller;
}

function scopeRefusal(caller: Caller, access: Access): 'scoped-validation' | 'scope-forbids' | null {
  if (caller.scope === null || access.kind === 'revocation') return null;
  if (access.kind === 'token-validation') return 'scoped-validation';
  if (access.kind === 'own-passkey') return caller.scope === 'ADD-PASSKEY' ? null : 'scope-forbids';
  const own =
    access.kind === 'own-multi-factor' ||
    (access.kind === 'multi-factor' && access.userId === caller.user.id);
  const ownSetup = own && caller.scope === 'SETUP-MFA' && caller.user.mfa_enabled === 0;
  return ownSetup ? null : 'scope-forbids';
}

export type Action =
  /** Create a user: each level creates the one below it (reference §3.3). */
  | { kind: 'user.create' }
  /** Read a user (reference §6.3). */
  | { kind: 'user.view'; target: UserView }
  /** Change a user, its credentials or its multi-factor devices (reference §3.2, §7.0). */
  | { kind: 'user.manage'; target: UserView }
  | { kind: 'user.set-enabled'; target: UserView }
  /** A new username (usernames are unique across every account, so a refusal tells). */
  | { kind: 'user.rename'; target: UserView }
  | { kind: 'user.delete'; target: UserView }
  /** Give a user another role: from one the caller grants to another it grants (rolesGrantableBy). */
  | { kind: 'user.set-role'; target: UserView; role: string }
  /**
   * Change a password by proving the current one (Identity v3's self-service change): only the
   * user itself, on an unscoped token; others' passwords are set with user.manage (v2.0).
   */
  | { kind: 'user.change-own-password'; userId: string }
  /** The projects (accounts) a user is in (Keystone's identity:list_user_projects). */
  | { kind: 'user.list-projects'; target: UserView }
  | { kind: 'mfa.unlock'; target: UserView }
  /** The user-level enforcement (reference §7.12). */
  | { kind: 'mfa.set-level'; target: UserView }
  | { kind: 'mfa.send-temporary-code'; target: UserView }
  /** Another user's token; without an owner: may the caller inspect others' tokens at all. */
  | { kind: 'token.validate'; owner?: UserView }
  | { kind: 'token.revoke-other'; owner?: UserView }
  /**
   * Identity v3's subject token (Keystone's rule): its own user may validate or revoke any of
   * its tokens; anyone else needs the right to handle that owner's tokens.
   */
  | { kind: 'token.validate-subject'; owner: UserView }
  | { kind: 'token.revoke-subject'; owner: UserView }
  | { kind: 'domain.view'; domainId: string }
  /**
   * A domain as Identity v3 shows it (Keystone's identity:get_domain: a token's own domain, or
   * a system reader): one's own account, administrators any, and `default` everyone, since
   * every user can be named in it (usernames are global).
   */
  | { kind: 'domain.view-v3'; domainId: string }
  | { kind: 'domain.set-enforcement'; domainId: string }
  /** Security events, of one domain or (undefined) of those the caller sees. */
  | { kind: 'events.read'; domainId: string | undefined }
  /**
   * The control panel's administration of an account (its user list, MFA policy and security
   * overview), of one domain or (undefined) of any the caller may administer.
   */
  | { kind: 'account.administer'; domainId: string | undefined };

export const AuthorizationMessages = {
  ownEnabled: 'A user cannot enable or disable itself.',
  ownUsername: 'A user cannot change its own username. Ask an administrator of your account.',
  ownerDelete: 'An account owner cannot delete itself.',
  roleNotGrantable: 'You may not give this role.',
  ownRole: 'A user cannot change its own role.',
  ownUnlock: 'Can not make this multifactor change on own account',
  ownTemporaryCode: 'Can not send a temporary code to your own account.',
  mustHaveMfaToEnforce:
    'You must have Multi-Factor Authentication set as optional or enabled for your profile to enforce Multi-Factor Authentication for the domain',
} as const;

/** Keystone's default domain, where users of no account are (identity/users.ts DEFAULT_DOMAIN). */
const DEFAULT_DOMAIN_ID = 'default';

const sameDomain = (a: UserView, b: { domain_id: string | null }): boolean =>
  a.domain_id !== null && a.domain_id === b.domain_id;

/** Why the action is refused (a 403 message), or null when it is allowed. */
export function refusal(acting: RuleSubject, action: Action): string | null {
  const { user } = acting;
  const no = Messages.notAuthorized;
  switch (action.kind) {
    case 'user.create':
      return roleCreatedBy(user.role) === undefined ? no : null;
    case 'user.view': {
      const { target } = action;
      if (user.id === target.id) return null;
      if (atLeast(user, 'identity:admin')) return hasPrecedence(user, target) ? null : no;
      const manager = user.role === 'identity:user-admin' || user.role === 'identity:user-manage';
      return manager && sameDomain(user, target) ? null : no;
    }
    case 'user.manage':
      return hasPrecedence(user, action.target) ? null : no;
    case 'user.set-enabled':
      if (!hasPrecedence(user, action.target)) return no;
      return user.id === action.target.id ? AuthorizationMessages.ownEnabled : null;
    case 'user.rename':
      // Keystone lets only administrators rename users. Here a user who may create users (whose
      // taken names already answer 409 on creation) may rename itself; anyone else may not, or
      // the 409 of a taken name would tell it which usernames exist in other accounts.
      if (!hasPrecedence(user, action.target)) return no;
      return user.id === action.target.id && roleCreatedBy(user.role) === undefined
        ? AuthorizationMessages.ownUsername
        : null;
    case 'user.delete':
      if (!hasPrecedence(user, action.target)) return no;
      return user.id === action.target.id && action.target.role === 'identity:user-admin'
        ? AuthorizationMessages.ownerDelete
        : null;
    case 'user.set-role': {
      if (!hasPrecedence(user, action.target)) return no;
      if (user.id === action.target.id) return AuthorizationMessages.ownRole;
      const grantable = rolesGrantableBy(user.role);
      return grantable.includes(action.target.role as RoleName) && grantable.includes(action.role as RoleName)
        ? null
        : AuthorizationMessages.roleNotGrantable;
    }
    case 'user.change-own-password':
      if (acting.scope !== null) return Messages.scopeForbids;
      return user.id === action.userId ? null : no;
    case 'user.list-projects':
      // Keystone: the user itself, a reader of the user's domain, or a system reader; here the
      // user, its account's managers, and administrators over it (as user.view).
      return refusal(acting, { kind: 'user.view', target: action.target });
    case 'mfa.unlock':
      if (!hasPrecedence(user, action.target)) return no;
      return user.id === action.target.id ? AuthorizationMessages.ownUnlock : null;
    case 'mfa.set-level': {
      const { target } = action;
      if (user.role === 'identity:default') return no;
      // Ours: a SETUP-MFA token exists to set MFA up, not to opt its user out of the
      // requirement that made the token necessary.
      if (acting.scope !== null) return Messages.scopeForbids;
      if (user.id === target.id)
        return user.role === 'identity:user-admin' || user.role === 'identity:user-manage' ? null : no;
      if (hasPrecedence(user, target)) return null;
      // A user manager may set the level of its own account's owner (reference §7.12).
      const managerOnOwner =
        user.role === 'identity:user-manage' &&
        target.role === 'identity:user-admin' &&
        sameDomain(user, target);
      return managerOnOwner ? null : no;
    }
    case 'mfa.send-temporary-code':
      // A code one can send oneself is no second factor.
      if (acting.scope !== null) return Messages.scopeForbids;
      if (user.id === action.target.id) return AuthorizationMessages.ownTemporaryCode;
      return hasPrecedence(user, action.target) ? null : no;
    case 'token.validate':
      if (!atLeast(user, 'identity:user-admin')) return no;
      if (action.owner === undefined || atLeast(user, 'identity:admin')) return null;
      return user.role === 'identity:user-admin' && sameDomain(user, action.owner) ? null : no;
    case 'token.revoke-other':
      if (acting.scope !== null || !atLeast(user, 'identity:user-admin')) return no;
      if (action.owner === undefined || atLeast(user, 'identity:admin')) return null;
      return sameDomain(user, action.owner) ? null : no;
    case 'token.validate-subject':
      if (action.owner.id === user.id) return null;
      return refusal(acting, { kind: 'token.validate', owner: action.owner });
    case 'token.revoke-subject':
      if (action.owner.id === user.id) return null;
      return refusal(acting, { kind: 'token.revoke-other', owner: action.owner });
    case 'domain.view':
      return seesEveryDomain(user) || user.domain_id === action.domainId ? null : no;
    case 'domain.view-v3':
      if (action.domainId === DEFAULT_DOMAIN_ID) return null;
      return refusal(acting, { kind: 'domain.view', domainId: action.domainId });
    case 'domain.set-enforcement':
      // Reference §8: user-manage or higher; account managers only for their own domain, and
      // only when they themselves have MFA or are exempt.
      if (!atLeast(user, 'identity:user-manage')) return no;
      if (atLeast(user, 'identity:admin')) return null;
      if (user.domain_id !== action.domainId) return no;
      return user.mfa_enabled === 1 || user.mfa_enforcement === 'OPTIONAL'
        ? null
        : AuthorizationMessages.mustHaveMfaToEnforce;
    case 'events.read':
      if (seesEveryDomain(user)) return null;
      if (user.role !== 'identity:user-admin') return no;
      return action.domainId === undefined || action.domainId === user.domain_id ? null : no;
    case 'account.administer':
      // The seeds' User Management: account owners and user managers for their own account,
      // administrators for every account; never on a scoped (SETUP-MFA) token.
      if (acting.scope !== null) return Messages.scopeForbids;
      if (seesEveryDomain(user)) return null;
      if (user.role !== 'identity:user-admin' && user.role !== 'identity:user-manage') return no;
      if (user.domain_id === null) return no;
      return action.domainId === undefined || action.domainId === user.domain_id ? null : no;
  }
}

export function may(acting: RuleSubject, action: Action): boolean {
  return refusal(acting, action) === null;
}

/** Throws 403 with the rule's message when the action is refused. */
export function authorize(acting: RuleSubject, action: Action): void {
  const message = refusal(acting, action);
  if (message !== null) throw forbidden(message);
}

/** Administrators see every account; everyone else at most their own. */
export function seesEveryDomain(user: UserView): boolean {
  return atLeast(user, 'identity:admin');
}

/** A user acting through a domain call that scoped tokens never reach (see authenticateCaller). */
export const acting = (user: UserView): Acting => ({ user, scope: null, source: null });

/**
 * Which users a caller sees in a list (reference §6.4): admins those they outrank, an account
 * owner its account, a user manager the account's ordinary users and managers, anyone else
 * only itself.
 */
export function listsUser(user: UserView, row: UserView): boolean {
  if (row.id === user.id) return true;
  if (seesEveryDomain(user)) return hasPrecedence(user, row);
  if (!sameDomain(user, row)) return false;
  if (user.role === 'identity:user-admin') return true;
  if (user.role === 'identity:user-manage')
    return row.role === 'identity:default' || row.role === 'identity:user-manage';
  return false;
}
