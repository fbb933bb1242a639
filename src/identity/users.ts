import { randomInt } from 'node:crypto';
import {
  type Acting,
  AuthorizationMessages,
  authorize,
  listsUser,
  may,
  refusal,
  seesEveryDomain,
} from '../access/caller.js';
import { isRoleName, type RoleName, roleCreatedBy, roleOf, rolesGrantableBy } from '../access/roles.js';
import { revokeUserTokens } from '../access/tokens.js';
import { badRequest, conflict, forbidden, notFound } from '../core/errors.js';
import { randomHex } from '../crypto/random.js';
import { type EventType, recordEvent } from '../events/events.js';
import type { Actor, Deps } from '../services/deps.js';
import { isUniqueViolation } from '../store/dialect-differences.js';
import { type Db, type UserRow, type UserUpdate, type UserView, userView } from '../store/schema.js';
import { apiKeyAad } from './api-keys.js';
import { assertNotRecentPassword, rememberReplacedPassword } from './password-history.js';
import { generatePassword, meetsPasswordPolicy, PASSWORD_POLICY_MESSAGE } from './passwords.js';

export const MAX_USERS_PER_DOMAIN = 100;
const USERNAME_PATTERN = /^[A-Za-z][A-Za-z0-9\-_.@]*$/;
const EMAIL_PATTERN = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;

export function usernameKey(username: string): string {
  return username.toLowerCase();
}

export async function findUserById(db: Db, id: string): Promise<UserRow | undefined> {
  return db.selectFrom('users').selectAll().where('id', '=', id).executeTakeFirst();
}

export async function findUserByUsername(db: Db, username: string): Promise<UserRow | undefined> {
  return db
    .selectFrom('users')
    .selectAll()
    .where('username_key', '=', usernameKey(username))
    .executeTakeFirst();
}

/** A domain as OpenStack clients name it: by id or by name. */
export type DomainReference = { id: string } | { name: string };

/**
 * A user as OpenStack Identity v3 names it: by id, or by name within a domain. Usernames are
 * unique across latchkey, so the `default` domain (which clients send when none is given) finds
 * every user; an account's domain, by id or name, finds only that account's users.
 */
export type UserReference = { id: string } | { name: string; domain: DomainReference };

/** The id and name of the domain that holds users without an account (Keystone's default). */
export const DEFAULT_DOMAIN = { id: 'default', name: 'Default' } as const;

export async function findUserByReference(db: Db, reference: UserReference): Promise<UserRow | undefined> {
  if ('id' in reference) return findUserById(db, reference.id);
  const user = await findUserByUsername(db, reference.name);
  if (!user) return undefined;
  const { domain } = reference;
  if ('id' in domain ? domain.id === DEFAULT_DOMAIN.id : domain.name === DEFAULT_DOMAIN.name) return user;
  if (user.domain_id === null) return undefined;
  if ('id' in domain) return domain.id === user.domain_id ? user : undefined;
  const held = await db
    .selectFrom('domains')
    .select('id')
    .where('id', '=', user.domain_id)
    .where('name', '=', domain.name)
    .executeTakeFirst();
  return held ? user : undefined;
}

/** The user as the surfaces see it; unknown → 404. */
export async function requireUser(db: Db, id: string): Promise<UserView> {
  const user = await findUserById(db, id);
  if (!user) throw notFound(`User ${id} not found`);
  return userView(user);
}

function validateUsername(username: string | undefined): string {
  if (username === undefined || username.trim() === '')
    throw badRequest('Expecting username').because('username-invalid');
  if (username.length > 100 || !USERNAME_PATTERN.test(username))
    throw badRequest('Username has invalid characters.').because('username-invalid');
  return username;
}

function validateEmail(email: string | undefined): string | undefined {
  if (email === undefined) return undefined;
  if (email.length > 255 || !EMAIL_PATTERN.test(email))
    throw badRequest('Expecting valid email address').because('email-invalid');
  return email;
}

export function validatePassword(password: string): string {
  if (!meetsPasswordPolicy(password) || password.length > 256)
    throw badRequest(PASSWORD_POLICY_MESSAGE).because('password-weak');
  return password;
}

const usernameTaken = (username: string) =>
  conflict(`User with username: '${username}' already exists.`).because('username-taken');

async function ensureUsernameFree(db: Db, username: string, exceptId?: string): Promise<void> {
  const existing = await findUserByUsername(db, username);
  if (existing && existing.id !== exceptId) throw usernameTaken(username);
}

export interface NewUserInput {
  username?: string;
  /** One of the roles the caller grants (rolesGrantableBy); by default the one it creates. */
  role?: string;
  email?: string;
  enabled?: boolean;
  password?: string;
  domainId?: string;
  defaultRegion?: string;
}

export interface CreatedUser {
  user: UserView;
  /** Set only when the server generated the password: returned once, in the create response. */
  generatedPassword?: string;
}

async function newDomainId(db: Db): Promise<string> {
  for (let attempt = 0; attempt < 20; attempt++) {
    const id = String(randomInt(1_000_000, 99_999_999));
    const taken = await db.selectFrom('domains').select('id').where('id', '=', id).executeTakeFirst();
    if (!taken) return id;
  }
  throw new Error('could not allocate a domain id');
}

/**
 * Insert a user with its API key and, for an account owner, its domain. Used by the API (after
 * the caller's rights are checked), the CLI and bootstrap.
 */
export async function insertUser(
  deps: Deps,
  actor: Actor,
  input: {
    username: string;
    email?: string;
    enabled?: boolean;
    password: string;
    role: RoleName;
    domainId: string | null;
    createDomain?: boolean;
    defaultRegion: string;
  },
): Promise<UserView> {
  const passwordHash = await deps.passwords.hash(input.password);
  const now = deps.clock.now();
  const id = randomHex();
  try {
    return await deps.db.transaction().execute(async (trx) => {
      await ensureUsernameFree(trx, input.username);
      if (input.createDomain && input.domainId) {
        await trx
          .insertInto('domains')
          .values({
            id: input.domainId,
            name: input.domainId,
            description: `Account of ${input.username}`,
            enabled: 1,
            mfa_enforcement: 'OPTIONAL',
            created_at: now,
            updated_at: now,
          })
          .execute();
      }
      const row = {
        id,
        username: input.username,
        username_key: usernameKey(input.username),
        email: input.email ?? null,
        enabled: input.enabled === false ? 0 : 1,
        role: input.role,
        domain_id: input.domainId,
        default_region: input.defaultRegion,
        password_hash: passwordHash,
        api_key_enc: deps.keys.encrypt(randomHex(), apiKeyAad(id)),
        created_at: now,
        updated_at: now,
        mfa_enabled: 0,
        factor_type: null,
        mfa_enforcement: null,
        mfa_failed_count: 0,
        mfa_last_failed_at: null,
        password_failed_count: 0,
        password_last_failed_at: null,
      };
      await trx.insertInto('users').values(row).execute();
      await recordEvent(trx, now, {
        type: 'user.created',
        actorId: actor.userId,
        userId: id,
        domainId: input.domainId,
        source: actor.source,
        detail: { username: input.username, role: input.role },
      });
      return row;
    });
  } catch (error) {
    // Two concurrent creations both pass the check above on PostgreSQL (read committed); the
    // unique index decides, and the loser gets the same 409 as a sequential duplicate.
    if (!isUniqueViolation(error)) throw error;
    if (await findUserByUsername(deps.db, input.username)) throw usernameTaken(input.username);
    throw conflict(`Domain '${input.domainId}' already has an account owner.`);
  }
}

/** POST /v2.0/users: what the caller's level creates (reference §3.3). */
export async function createUser(deps: Deps, acting: Acting, input: NewUserInput): Promise<CreatedUser> {
  const { user: caller, source } = acting;
  authorize(acting, { kind: 'user.create' });
  const role = input.role === undefined ? roleCreatedBy(caller.role) : grantableRole(caller, input.role);
  if (!role) throw forbidden();
  const username = validateUsername(input.username);
  const email = validateEmail(input.email);
  const generatedPassword = input.password === undefined ? generatePassword() : undefined;
  const password = validatePassword(input.password ?? generatedPassword ?? '');
  const region = input.defaultRegion ?? caller.default_region;
  if (region.length > 64) throw badRequest('Default region is too long.');
  await ensureUsernameFree(deps.db, username);

  let domainId: string | null = null;
  let createDomain = false;
  if (role === 'identity:user-admin') {
    if (input.domainId !== undefined) {
      if (!/^\d{1,18}$/.test(input.domainId)) throw badRequest('Domain id must be numeric.');
      const existing = await deps.db
        .selectFrom('domains')
        .select('id')
        .where('id', '=', input.domainId)
        .executeTakeFirst();
      if (existing) throw conflict(`Domain '${input.domainId}' already has an account owner.`);
      domainId = input.domainId;
    } else {
      domainId = await newDomainId(deps.db);
    }
    createDomain = true;
  } else if (role === 'identity:default' || role === 'identity:user-manage') {
    domainId = caller.domain_id;
    if (domainId === null) throw forbidden();
    const { count } = await deps.db
      .selectFrom('users')
      .select((eb) => eb.fn.countAll<number>().as('count'))
      .where('domain_id', '=', domainId)
      .executeTakeFirstOrThrow();
    if (Number(count) >= MAX_USERS_PER_DOMAIN) {
      throw badRequest(`An account may have at most ${MAX_USERS_PER_DOMAIN} users.`);
    }
  }
  const user = await insertUser(
    deps,
    { userId: caller.id, source },
    {
      username,
      password,
      role,
      domainId,
      createDomain,
      defaultRegion: region,
      ...(email === undefined ? {} : { email }),
      ...(input.enabled === undefined ? {} : { enabled: input.enabled }),
    },
  );
  return generatedPassword === undefined ? { user } : { user, generatedPassword };
}

/** The role asked for, when the caller grants it; 403 otherwise. */
function grantableRole(caller: UserView, role: string): RoleName {
  const granted = rolesGrantableBy(caller.role).find((grantable) => grantable === role);
  if (granted === undefined)
    throw forbidden(AuthorizationMessages.roleNotGrantable).because('role-not-grantable');
  return granted;
}

export async function getUserFor(deps: Deps, acting: Acting, id: string): Promise<UserView> {
  const target = await requireUser(deps.db, id);
  authorize(acting, { kind: 'user.view', target });
  return target;
}

/** A user the caller may view; any other, like a missing one, answers 404 (nothing tells it exists). */
export async function getVisibleUserFor(deps: Deps, acting: Acting, id: string): Promise<UserView> {
  const row = await findUserById(deps.db, id);
  const target = row ? userView(row) : undefined;
  if (!target || !may(acting, { kind: 'user.view', target })) throw notFound(`User ${id} not found`);
  return target;
}

export async function getUserByNameFor(deps: Deps, acting: Acting, name: string): Promise<UserView> {
  const target = await findUserByUsername(deps.db, name);
  // An invisible user answers like a missing one, so the lookup does not reveal usernames.
  if (!target || !may(acting, { kind: 'user.view', target })) throw notFound(`User '${name}' not found.`);
  return target;
}

export async function listUsersFor(deps: Deps, acting: Acting, email?: string): Promise<UserView[]> {
  const caller = acting.user;
  let query = deps.db.selectFrom('users').selectAll().orderBy('created_at').orderBy('id');
  if (email !== undefined) query = query.where('email', '=', email);
  // Narrow in SQL to the caller's account where that is all it may see; listsUser decides.
  if (!seesEveryDomain(caller)) {
    if (caller.domain_id === null) query = query.where('id', '=', caller.id);
    else query = query.where('domain_id', '=', caller.domain_id);
  }
  const rows = await query.limit(1000).execute();
  return rows.filter((row) => listsUser(caller, row)).map(userView);
}

/**
 * The users of one account, for its administration (the control panel's User List): those of
 * the account the caller lists (listsUser), matching `search` in the username or email.
 */
export async function listAccountUsersFor(
  deps: Deps,
  caller: Acting,
  domainId: string,
  search = '',
): Promise<UserView[]> {
  authorize(caller, { kind: 'account.administer', domainId });
  const rows = await deps.db
    .selectFrom('users')
    .selectAll()
    .where('domain_id', '=', domainId)
    .orderBy('username_key')
    .limit(1000)
    .execute();
  const term = search.trim().toLowerCase();
  return rows
    .filter((row) => listsUser(caller.user, row))
    .filter(
      (row) =>
        term === '' || row.username_key.includes(term) || (row.email ?? '').toLowerCase().includes(term),
    )
    .map(userView);
}

/** Self always; anyone else only with precedence (reference §3.2). Unknown target → 404. */
export async function requirePrecedence(deps: Deps, acting: Acting, targetId: string): Promise<UserView> {
  const target = await requireUser(deps.db, targetId);
  authorize(acting, { kind: 'user.manage', target });
  return target;
}

export interface UserPatch {
  username?: string;
  /** Another role the caller grants, for a user whose role it grants (user.set-role). */
  role?: string;
  email?: string;
  enabled?: boolean;
  password?: string;
  defaultRegion?: string;
}

/**
 * POST /v2.0/users/{id}, and every other password change. A password change or a disable
 * revokes every token of the user; a new password meets the policy and the password history.
 */
export async function updateUser(
  deps: Deps,
  acting: Acting,
  id: string,
  patch: UserPatch,
): Promise<UserView> {
  const { user: caller, source } = acting;
  const target = await requirePrecedence(deps, acting, id);
  const changes: UserUpdate = {};
  const events: EventType[] = [];
  if (patch.username !== undefined && patch.username !== target.username) {
    authorize(acting, { kind: 'user.rename', target });
    changes.username = validateUsername(patch.username);
    changes.username_key = usernameKey(patch.username);
    await ensureUsernameFree(deps.db, patch.username, target.id);
  }
  if (patch.email !== undefined) changes.email = validateEmail(patch.email) ?? null;
  if (patch.role !== undefined && patch.role !== target.role) {
    // Precedence is checked above (requirePrecedence): what is left to refuse is the role itself.
    const refused = refusal(acting, { kind: 'user.set-role', target, role: patch.role });
    if (refused !== null) throw forbidden(refused).because('role-not-grantable');
    changes.role = grantableRole(caller, patch.role);
  }
  if (patch.defaultRegion !== undefined) {
    if (patch.defaultRegion.length > 64) throw badRequest('Default region is too long.');
    changes.default_region = patch.defaultRegion;
  }
  if (patch.enabled !== undefined && (patch.enabled ? 1 : 0) !== target.enabled) {
    authorize(acting, { kind: 'user.set-enabled', target });
    changes.enabled = patch.enabled ? 1 : 0;
  }
  if (patch.password !== undefined) {
    const password = validatePassword(patch.password);
    await assertNotRecentPassword(deps, target.id, password);
    changes.password_hash = await deps.passwords.hash(password);
    events.push('password.changed');
  }
  const revokeAll = changes.password_hash !== undefined || changes.enabled === 0;
  const now = deps.clock.now();
  changes.updated_at = now;
  try {
    return await deps.db.transaction().execute(async (trx) => {
      if (changes.username_key !== undefined) await ensureUsernameFree(trx, patch.username ?? '', target.id);
      if (changes.password_hash !== undefined) await rememberReplacedPassword(deps, trx, target.id, now);
      await trx.updateTable('users').set(changes).where('id', '=', target.id).execute();
      const actor = { userId: caller.id, source };
      await recordEvent(trx, now, {
        type: 'user.updated',
        actorId: caller.id,
        userId: target.id,
        domainId: target.domain_id,
        source,
        detail: { fields: Object.keys(patch).filter((key) => key !== 'password') },
      });
      for (const type of events) {
        await recordEvent(trx, now, {
          type,
          actorId: caller.id,
          userId: target.id,
          domainId: target.domain_id,
          source,
        });
      }
      if (revokeAll) {
        await revokeUserTokens(trx, now, actor, target, {
          reason: changes.enabled === 0 ? 'user disabled' : 'password changed',
        });
      }
      return requireUser(trx, target.id);
    });
  } catch (error) {
    // A concurrent rename or creation of the same name: the unique index decides (see insertUser).
    if (isUniqueViolation(error) && patch.username !== undefined) throw usernameTaken(patch.username);
    throw error;
  }
}

/** DELETE /v2.0/users/{id} (reference §6.6): tokens and MFA data go with the user. */
export async function deleteUser(deps: Deps, acting: Acting, id: string): Promise<void> {
  const { user: caller, source } = acting;
  const target = await requireUser(deps.db, id);
  authorize(acting, { kind: 'user.delete', target });
  const now = deps.clock.now();
  await deps.db.transaction().execute(async (trx) => {
    await recordEvent(trx, now, {
      type: 'user.deleted',
      actorId: caller.id,
      userId: target.id,
      domainId: target.domain_id,
      source,
      detail: { username: target.username },
    });
    // Child rows (tokens, devices, codes) go by ON DELETE CASCADE.
    await trx.deleteFrom('users').where('id', '=', target.id).execute();
  });
}

export function assertRoleName(role: string): RoleName {
  if (!isRoleName(role)) throw badRequest(`Unknown role '${role}'.`);
  return roleOf(role).name;
}
