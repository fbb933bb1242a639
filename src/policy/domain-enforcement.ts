import { type Acting, auditActor } from '../access/acting.js';
import { AuthorizationMessages, authorize } from '../access/caller.js';
import { revokeUserTokens } from '../access/tokens.js';
import { badRequest, notFound } from '../core/errors.js';
import { isJsonObject } from '../core/json.js';
import { recordEvent } from '../events/events.js';
import type { Deps } from '../services/deps.js';
import type { Db } from '../store/schema.js';
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

async function liveTokenCounts(db: Db, userIds: string[], now: number): Promise<Map<string, number>> {
  if (userIds.length === 0) return new Map();
  const rows = await db
    .selectFrom('tokens')
    .select(['user_id', (eb) => eb.fn.countAll<number>().as('count')])
    .where('user_id', 'in', userIds)
    .where('authenticated_by', '=', 'PASSWORD')
    .where('revoked_at', 'is', null)
    .where('expires_at', '>', now)
    .groupBy('user_id')
    .execute();
  return new Map(rows.map((row) => [row.user_id, Number(row.count)]));
}

async function impactOf(
  db: Db,
  domainId: string,
  level: DomainEnforcementLevel,
  current: string,
  now: number,
): Promise<DomainImpact> {
  if (level !== 'REQUIRED' || current === 'REQUIRED')
    return { usersLoggedOut: [], tokensRevoked: 0, usersRequiredToSetUp: [] };
  const bound = await newlyBound(db, domainId);
  const counts = await liveTokenCounts(
    db,
    bound.map((user) => user.id),
    now,
  );
  return {
    usersLoggedOut: bound
      .filter((user) => (counts.get(user.id) ?? 0) > 0)
      .map(({ id, username }) => ({ id, username })),
    tokensRevoked: [...counts.values()].reduce((sum, count) => sum + count, 0),
    usersRequiredToSetUp: bound.map(({ id, username }) => ({ id, username })),
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
 * transaction, every user it newly binds (their password-only tokens); a dry run reports exactly
 * that and changes nothing. `passkeysOnly`: true or false sets the account's passkeys-only
 * choice (only with REQUIRED; OPTIONAL always clears it), undefined keeps it.
 */
export async function setDomainEnforcement(
  deps: Deps,
  acting: Acting,
  domainId: string,
  level: DomainEnforcementLevel,
  dryRun: boolean,
  passkeysOnly?: boolean,
): Promise<DomainImpact> {
  authorize(acting, { kind: 'domain.set-enforcement', domainId });
  const actor = auditActor(acting);
  return deps.db.transaction().execute(async (trx) => {
    // The row locked: a concurrent login that read OPTIONAL commits its token before we revoke,
    // or reads REQUIRED after we commit.
    const domain = await trx
      .selectFrom('domains')
      .selectAll()
      .where('id', '=', domainId)
      .forUpdate()
      .executeTakeFirst();
    if (!domain) throw notFound(`Domain ${domainId} not found.`);
    const now = deps.clock.now();
    const impact = await impactOf(trx, domainId, level, domain.mfa_enforcement, now);
    if (dryRun) return impact;
    const passkeysOnlyNext =
      level === 'OPTIONAL' ? 0 : passkeysOnly === undefined ? domain.passkeys_only : Number(passkeysOnly);
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
    if (domain.mfa_enforcement !== level) {
      for (const user of impact.usersRequiredToSetUp) {
        await revokeUserTokens(
          trx,
          now,
          actor,
          { id: user.id, domain_id: domainId },
          {
            passwordOnly: true,
            reason: 'domain requires multi-factor',
          },
        );
      }
    }
    return impact;
  });
}
