/** Identity roles and their weights (reference §3.1): a lower weight is more powerful. */
export interface IdentityRole {
  id: string;
  name: RoleName;
  weight: number;
  description: string;
}

export type RoleName =
  | 'identity:service-admin'
  | 'identity:admin'
  | 'identity:user-admin'
  | 'identity:user-manage'
  | 'identity:default';

export const ROLES: Record<RoleName, IdentityRole> = {
  'identity:service-admin': {
    id: '4',
    name: 'identity:service-admin',
    weight: 0,
    description: 'Super Admin Role.',
  },
  'identity:admin': { id: '1', name: 'identity:admin', weight: 100, description: 'Admin Role.' },
  'identity:user-admin': {
    id: '3',
    name: 'identity:user-admin',
    weight: 750,
    description: 'User Admin Role.',
  },
  'identity:user-manage': {
    id: '7',
    name: 'identity:user-manage',
    weight: 900,
    description: 'User Manage Role.',
  },
  'identity:default': { id: '2', name: 'identity:default', weight: 2000, description: 'Default Role.' },
};

export const ROLE_NAMES = Object.keys(ROLES) as RoleName[];

export function isRoleName(value: string): value is RoleName {
  return value in ROLES;
}

export function roleOf(name: string): IdentityRole {
  if (!isRoleName(name)) throw new Error(`unknown role '${name}'`);
  return ROLES[name];
}

/** What a user's role list shows: user-manage is held together with identity:default. */
export function rolesHeld(name: string): IdentityRole[] {
  const role = roleOf(name);
  return role.name === 'identity:user-manage' ? [role, ROLES['identity:default']] : [role];
}

export interface Principal {
  id: string;
  role: string;
  domain_id: string | null;
}

const DOMAIN_BOUND: ReadonlySet<string> = new Set(['identity:user-admin', 'identity:user-manage']);

/**
 * Precedence (reference §3.2): self always; otherwise a strictly lower weight (user-manage may
 * also act on user-manage), and user-admin/user-manage only inside their own domain.
 */
export function hasPrecedence(caller: Principal, target: Principal): boolean {
  if (caller.id === target.id) return true;
  const callerRole = roleOf(caller.role);
  const targetRole = roleOf(target.role);
  const outranks =
    callerRole.weight < targetRole.weight ||
    (callerRole.name === 'identity:user-manage' && targetRole.name === 'identity:user-manage');
  if (!outranks) return false;
  if (DOMAIN_BOUND.has(callerRole.name))
    return caller.domain_id !== null && caller.domain_id === target.domain_id;
  return true;
}

/** At least as powerful as `role` (weight at most its weight). */
export function atLeast(principal: Principal, role: RoleName): boolean {
  return roleOf(principal.role).weight <= ROLES[role].weight;
}

/** The role a new user gets from its creator (reference §3.3); undefined: may not create. */
export function roleCreatedBy(creatorRole: string): RoleName | undefined {
  switch (creatorRole) {
    case 'identity:service-admin':
      return 'identity:admin';
    case 'identity:admin':
      return 'identity:user-admin';
    case 'identity:user-admin':
    case 'identity:user-manage':
      return 'identity:default';
    default:
      return undefined;
  }
}

/**
 * The roles a user of `creatorRole` gives, on creation or on a change of role: the one it creates
 * (roleCreatedBy), and for an account owner also user manager, the role the account owner hands
 * to users of its account who manage the others (reference §3.1).
 */
export function rolesGrantableBy(creatorRole: string): RoleName[] {
  const created = roleCreatedBy(creatorRole);
  if (created === undefined) return [];
  return creatorRole === 'identity:user-admin' ? [created, 'identity:user-manage'] : [created];
}
