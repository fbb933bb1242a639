import { rolesHeld } from '../../access/roles.js';
import type { LoginSuccess } from '../../auth/login.js';
import { locksOf } from '../../lockout/locks.js';
import type { Deps } from '../../services/deps.js';
import type { DomainRow, UserView } from '../../store/schema.js';
import { iso, renderCatalog } from '../common-render.js';
import type { AccessResponse, DomainResponse, WireRole, WireUser } from './wire.js';

/**
 * The user object of reference §6.1; MFA state and factor only while MFA is enabled, the password
 * lock only while it is on.
 */
export function renderUser(deps: Deps, user: UserView): Record<string, unknown> {
  const body: WireUser = {
    id: user.id,
    username: user.username,
    ...(user.email === null ? {} : { email: user.email }),
    enabled: user.enabled === 1,
    created: iso(user.created_at),
    updated: iso(user.updated_at),
    'RAX-AUTH:defaultRegion': user.default_region,
    ...(user.domain_id === null ? {} : { 'RAX-AUTH:domainId': user.domain_id }),
    'RAX-AUTH:multiFactorEnabled': user.mfa_enabled === 1,
  };
  const locks = locksOf(deps, user);
  if (user.mfa_enabled === 1) {
    body['RAX-AUTH:multiFactorState'] = locks.passcode ? 'LOCKED' : 'ACTIVE';
    // Clients know SMS and OTP only: a passkey default (ours) leaves the factor unnamed.
    if (user.factor_type === 'SMS' || user.factor_type === 'OTP')
      body['RAX-AUTH:factorType'] = user.factor_type;
  }
  if (user.mfa_enforcement !== null) body['RAX-AUTH:userMultiFactorEnforcementLevel'] = user.mfa_enforcement;
  // latchkey extension: the password lock, which the reference's user object does not show.
  if (locks.password)
    body['RAX-AUTH:passwordLockedUntil'] = locks.password.until === null ? null : iso(locks.password.until);
  return body;
}

export function renderRoles(user: UserView): WireRole[] {
  return rolesHeld(user.role).map((role) => ({
    id: role.id,
    name: role.name,
    description: role.description,
  }));
}

/** The `access` object of reference §4.8; validation leaves out the catalog (§5.1). */
export function renderAccess(
  deps: Deps,
  result: LoginSuccess,
  options: { catalog: boolean },
): { access: Record<string, unknown> } {
  const { token, user } = result;
  const tenantId = result.tenantId ?? user.domain_id;
  const access: AccessResponse['access'] = {
    token: {
      id: token.id,
      expires: iso(token.expiresAt),
      ...(tenantId === null ? {} : { tenant: { id: tenantId, name: tenantId } }),
      'RAX-AUTH:authenticatedBy': token.authenticatedBy,
      // ADD-PASSKEY tokens are the panel's: the API never issues or validates one.
      ...(token.scope === 'SETUP-MFA' ? { 'RAX-AUTH:scope': token.scope } : {}),
    },
    user: {
      id: user.id,
      name: user.username,
      roles: renderRoles(user),
      'RAX-AUTH:defaultRegion': user.default_region,
      ...(user.domain_id === null ? {} : { 'RAX-AUTH:domainId': user.domain_id }),
      'RAX-AUTH:multiFactorEnabled': user.mfa_enabled === 1,
      'RAX-AUTH:federated': false,
    },
  };
  // A SETUP-MFA token gets no catalog (reference §4.6).
  if (options.catalog && token.scope === null) access.serviceCatalog = renderCatalog(deps, tenantId);
  return { access };
}

export function renderDomain(domain: DomainRow): Record<string, unknown> {
  const body: DomainResponse = {
    'RAX-AUTH:domain': {
      id: domain.id,
      name: domain.name,
      enabled: domain.enabled === 1,
      description: domain.description,
      domainMultiFactorEnforcementLevel: domain.mfa_enforcement,
      'latchkey:passkeysOnly': domain.passkeys_only === 1,
    },
  };
  return body;
}
