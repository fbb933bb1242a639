import { type Acting, auditActor } from '../access/acting.js';
import { AuthorizationMessages, authorize, type Caller } from '../access/caller.js';
import { revokeUserTokens } from '../access/tokens.js';
import { badRequest, notFound } from '../core/errors.js';
import { isJsonObject } from '../core/json.js';
import { recordEvent } from '../events/events.js';
import type { Actor, Deps } from '../services/deps.js';
import type { Db, DomainRow } from '../store/schema.js';
import { type DomainEnforcementLevel, passkeysOnlyBinds } from './enforcement.js';

export const DOMAIN_LEVELS: readonly DomainEnforcementLevel[] = ['OPTIONAL', 'REQUIRED'];

export const MUST_HAVE_MFA_TO_ENFORCE = AuthorizationMessages.mustHaveMfaToEnforce;

export interface DomainImpact {
  usersLoggedOut: { id: string; username: string }[];
  tokensRevoked: number;
  usersRequiredToSetUp: { id: string; username: string }[];
}

/**
 * Users of the domain whom REQUIRED newly binds: no MFA and a user level that defers to the
 * domain (DEFAULT or unset). User-level OPTIONAL users are exempt; user-level REQUIRED users were
 * already bound (their password tokens went when that level was set, and a SETUP-MFA token they
 * hold must survive).
 */
async function newlyBound(
  db: Db,
  domainId: string,
): Promise<{ id: string; username: string; domain_id: string | null }[]> {
  return db
    .selectFrom('users')
    .select(['id', 'username', 'domain_id'])
    .where('domain_id', '=', domainId)
    .where('mfa_enabled', '=', 0)
    .where((eb) => eb.or([eb('mfa_enforcement', 'is', null), eb('mfa_enforcement', '=', 'DEFAULT')]))
    .orderBy('username')
    .execute();
}

/**
 * Users of the domain whom passkeys-only binds: every user the account's requirement binds (not
 * user-level OPTIONAL), with or without a passkey. Their tokens obtained with a password and no
 * passkey go when the account turns passkeys-only.
 */
async function passkeysBound(db: Db, domainId: string): Promise<{ id: string; username: string }[]> {
  const users = await db
    .selectFrom('users')
    .select(['id', 'username', 'mfa_enforcement'])
    .where('domain_id', '=', domainId)
    .orderBy('username')
    .execute();
  return users
    .filter((user) => passkeysOnlyBinds(user.mfa_enforcement, true))
    .map(({ id, username }) => ({ id, username }));
}

/** What a change of the account's policy revokes, and from whom. */
interface Revocation {
  /** Users REQUIRED newly binds: their password-only tokens go. */
  required: { id: string; username: string }[];
  /** Users passkeys-only newly binds: their tokens obtained with a password and no passkey go. */
  passkeys: { id: string; username: string }[];
  /** The token of the one making the change, which stays (undefined: none to spare). */
  exceptHash: string | undefined;
}

/** Live tokens per user that `revocation` takes, counted exactly as revokeAll revokes them. */
async function liveTokenCounts(db: Db, revocation: Revocation, now: number): Promise<Map<string, number>> {
  const requiredIds = revocation.required.map((user) => user.id);
  const passkeysIds = revocation.passkeys.map((user) => user.id);
  if (requiredIds.length === 0 && passkeysIds.length === 0) return new Map();
  let query = db
    .selectFrom('tokens')
    .select(['user_id', (eb) => eb.fn.countAll<number>().as('count')])
    .where('revoked_at', 'is', null)
    .where('expires_at', '>', now)
    .where((eb) =>
      eb.or([
        ...(requiredIds.length === 0
          ? []
          : [eb.and([eb('user_id', 'in', requiredIds), eb('authenticated_by', '=', 'PASSWORD')])]),
        ...(passkeysIds.length === 0
          ? []
          : [
              eb.and([
                eb('user_id', 'in', passkeysIds),
                eb('scope', 'is', null),
                eb('authenticated_by', 'like', '%PASSWORD%'),
                eb('authenticated_by', 'not like', '%PASSKEY%'),
              ]),
            ]),
      ]),
    );
  if (revocation.exceptHash !== undefined) query = query.where('hash', '!=', revocation.exceptHash);
  const rows = await query.groupBy('user_id').execute();
  return new Map(rows.map((row) => [row.user_id, Number(row.count)]));
}

/** Revokes what `revocation` names, inside the policy change's transaction. */
async function revokeAll(
  trx: Db,
  now: number,
  actor: Actor,
  domainId: string,
  revocation: Revocation,
): Promise<void> {
  const except = revocation.exceptHash === undefined ? {} : { exceptHash: revocation.exceptHash };
  for (const user of revocation.required) {
    await revokeUserTokens(
      trx,
      now,
      actor,
      { id: user.id, domain_id: domainId },
      { which: 'password-only', reason: 'domain requires multi-factor', ...except },
    );
  }
  for (const user of revocation.passkeys) {
    await revokeUserTokens(
      trx,
      now,
      actor,
      { id: user.id, domain_id: domainId },
      { which: 'password-without-passkey', reason: 'domain requires passkeys', ...except },
    );
  }
}

async function revocationOf(
  db: Db,
  domain: DomainRow,
  level: DomainEnforcementLevel,
  passkeysOnlyNext: number,
  exceptHash: string | undefined,
): Promise<{ revocation: Revocation; usersRequiredToSetUp: { id: string; username: string }[] }> {
  const requiredNow = level === 'REQUIRED' && domain.mfa_enforcement !== 'REQUIRED';
  const passkeysNow = passkeysOnlyNext === 1 && domain.passkeys_only !== 1;
  const required = requiredNow ? await newlyBound(db, domain.id) : [];
  const passkeys = passkeysNow ? await passkeysBound(db, domain.id) : [];
  return {
    revocation: {
      required: required.map(({ id, username }) => ({ id, username })),
      passkeys,
      exceptHash,
    },
    usersRequiredToSetUp: required.map(({ id, username }) => ({ id, username })),
  };
}

async function impactOf(
  db: Db,
  revocation: Revocation,
  usersRequiredToSetUp: { id: string; username: string }[],
  now: number,
): Promise<DomainImpact> {
  const counts = await liveTokenCounts(db, revocation, now);
  // By username as the store sorts them: passkeys-only binds everyone REQUIRED binds, and more.
  const named = new Map(
    [...revocation.passkeys, ...revocation.required].map((user) => [user.id, user.username]),
  );
  return {
    usersLoggedOut: [...named]
      .filter(([id]) => (counts.get(id) ?? 0) > 0)
      .map(([id, username]) => ({ id, username })),
    tokensRevoked: [...counts.values()].reduce((sum, count) => sum + count, 0),
    usersRequiredToSetUp,
  };
}

/**
 * Users the passkeys-only choice binds who have no passkey yet: each is guided to add one at the
 * next log in (a passcode accepted that time), or to set up multi-factor authentication first.
 */
export async function usersWithoutPasskey(
  db: Db,
  domainId: string,
): Promise<{ id: string; username: string }[]> {
  return db
    .selectFrom('users')
    .select(['id', 'username'])
    .where('domain_id', '=', domainId)
    .where((eb) => eb.or([eb('mfa_enforcement', 'is', null), eb('mfa_enforcement', '!=', 'OPTIONAL')]))
    .where(({ not, exists, selectFrom }) =>
      not(exists(selectFrom('passkeys').select('passkeys.id').whereRef('passkeys.user_id', '=', 'users.id'))),
    )
    .orderBy('username')
    .execute();
}

/** Whether the user's account requires passkeys of this user (the panel then offers no passcode). */
export async function passkeysRequiredOf(db: Db, userId: string): Promise<boolean> {
  const row = await db
    .selectFrom('users')
    .innerJoin('domains', 'domains.id', 'users.domain_id')
    .select(['users.mfa_enforcement', 'domains.passkeys_only'])
    .where('users.id', '=', userId)
    .executeTakeFirst();
  return row !== undefined && passkeysOnlyBinds(row.mfa_enforcement, row.passkeys_only === 1);
}

/** The extension field of ours: passkeys or security keys only (absent: unchanged). */
export const PASSKEYS_ONLY_FIELD = 'latchkey:passkeysOnly';

export function parsePasskeysOnly(body: unknown): boolean | undefined {
  const settings = isJsonObject(body) ? body['RAX-AUTH:multiFactorDomain'] : undefined;
  const value = isJsonObject(settings) ? settings[PASSKEYS_ONLY_FIELD] : undefined;
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'boolean') throw badRequest(`${PASSKEYS_ONLY_FIELD} must be true or false.`);
  return value;
}

export function parseDomainLevel(body: unknown): DomainEnforcementLevel {
  const settings = isJsonObject(body) ? body['RAX-AUTH:multiFactorDomain'] : undefined;
  const level = isJsonObject(settings) ? settings.domainMultiFactorEnforcementLevel : undefined;
  if (level === undefined || level === null || level === '')
    throw badRequest('Must provide domain multifactor enforcement level');
  if (typeof level !== 'string' || !(DOMAIN_LEVELS as readonly string[]).includes(level)) {
    throw badRequest(`Invalid domain multifactor enforcement level: use ${DOMAIN_LEVELS.join(' or ')}.`);
  }
  return level as DomainEnforcementLevel;
}

/**
 * PUT /v2.0/RAX-AUTH/domains/{id}/multi-factor. Going to REQUIRED logs out, in the same
 * transaction, every user it newly binds (their password-only tokens); turning passkeys-only on
 * logs out every user it binds from the tokens they got with a password and no passkey (API
 * keys' tokens stay, and so does the token making the change). A dry run reports exactly that
 * and changes nothing. `passkeysOnly`: true or false sets the account's passkeys-only choice
 * (only with REQUIRED; OPTIONAL always clears it), undefined keeps it.
 */
export async function setDomainEnforcement(
  deps: Deps,
  acting: Acting | Caller,
  domainId: string,
  level: DomainEnforcementLevel,
  dryRun: boolean,
  passkeysOnly?: boolean,
): Promise<DomainImpact> {
  authorize(acting, { kind: 'domain.set-enforcement', domainId });
  const actor = auditActor(acting);
  // The one making the change keeps the session it makes it with (it may hold others, which go).
  const exceptHash = 'token' in acting ? acting.token.hash : undefined;
  return deps.db.transaction().execute(async (trx) => {
    // The row locked: a concurrent login that read the old policy commits its token before we
    // revoke, or reads the new one (under a share lock, in one read) after we commit.
    const domain = await trx
      .selectFrom('domains')
      .selectAll()
      .where('id', '=', domainId)
      .forUpdate()
      .executeTakeFirst();
    if (!domain) throw notFound(`Domain ${domainId} not found.`);
    const now = deps.clock.now();
    const passkeysOnlyNext =
      level === 'OPTIONAL' ? 0 : passkeysOnly === undefined ? domain.passkeys_only : Number(passkeysOnly);
    const { revocation, usersRequiredToSetUp } = await revocationOf(
      trx,
      domain,
      level,
      passkeysOnlyNext,
      exceptHash,
    );
    const impact = await impactOf(trx, revocation, usersRequiredToSetUp, now);
    if (dryRun) return impact;
    if (domain.mfa_enforcement !== level || domain.passkeys_only !== passkeysOnlyNext) {
      await trx
        .updateTable('domains')
        .set({ mfa_enforcement: level, passkeys_only: passkeysOnlyNext, updated_at: now })
        .where('id', '=', domainId)
        .execute();
      await recordEvent(trx, now, {
        type: 'domain.enforcement_changed',
        actorId: actor.userId,
        domainId,
        source: actor.source,
        detail: {
          from: domain.mfa_enforcement,
          to: level,
          passkeysOnlyBefore: domain.passkeys_only === 1,
          passkeysOnly: passkeysOnlyNext === 1,
          tokensRevoked: impact.tokensRevoked,
        },
      });
    }
    await revokeAll(trx, now, actor, domainId, revocation);
    return impact;
  });
}
