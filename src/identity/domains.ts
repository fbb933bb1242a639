import { sql } from 'kysely';
import { type Acting, authorize, seesEveryDomain } from '../access/caller.js';
import { notFound } from '../core/errors.js';
import type { Deps } from '../services/deps.js';
import type { Db, DomainRow, UserView } from '../store/schema.js';
import { DEFAULT_DOMAIN } from './users.js';

export async function getDomainFor(deps: Deps, acting: Acting, domainId: string): Promise<DomainRow> {
  authorize(acting, { kind: 'domain.view', domainId });
  const domain = await deps.db
    .selectFrom('domains')
    .selectAll()
    .where('id', '=', domainId)
    .executeTakeFirst();
  if (!domain) throw notFound(`Domain ${domainId} not found.`);
  return domain;
}

/** The domain that holds a user as OpenStack Identity v3 shows it: the account, or `default`. */
export async function domainOfUser(
  db: Db,
  user: Pick<UserView, 'domain_id'>,
): Promise<{ id: string; name: string }> {
  if (user.domain_id === null) return { ...DEFAULT_DOMAIN };
  const domain = await db
    .selectFrom('domains')
    .select('name')
    .where('id', '=', user.domain_id)
    .executeTakeFirst();
  return { id: user.domain_id, name: domain?.name ?? user.domain_id };
}

/** An account as the control panel's account chooser lists it. */
export interface AccountSummary {
  id: string;
  name: string;
  mfaEnforcement: string;
  users: number;
}

export const MAX_LISTED_ACCOUNTS = 100;

/**
 * The accounts the caller may administer, matching `search` (an exact account number or part of
 * its name; empty: all): every account for an administrator, an account manager's own otherwise.
 */
export async function listAccountsFor(deps: Deps, caller: Acting, search = ''): Promise<AccountSummary[]> {
  authorize(caller, { kind: 'account.administer', domainId: undefined });
  let query = deps.db
    .selectFrom('domains')
    .leftJoin('users', 'users.domain_id', 'domains.id')
    .select((eb) => [
      'domains.id',
      'domains.name',
      'domains.mfa_enforcement',
      eb.fn.count<number>('users.id').as('users'),
    ])
    .groupBy(['domains.id', 'domains.name', 'domains.mfa_enforcement'])
    .orderBy('domains.id')
    .limit(MAX_LISTED_ACCOUNTS);
  if (!seesEveryDomain(caller.user)) query = query.where('domains.id', '=', caller.user.domain_id ?? '');
  const term = search.trim();
  if (term !== '') {
    const pattern = `%${term.toLowerCase().replace(/[\\%_]/g, (char) => `\\${char}`)}%`;
    query = query.where((eb) =>
      eb.or([eb('domains.id', '=', term), eb(sql`lower(domains.name)`, 'like', sql`${pattern} escape '\\'`)]),
    );
  }
  const rows = await query.execute();
  return rows.map((row) => ({
    id: row.id,
    name: row.name,
    mfaEnforcement: row.mfa_enforcement,
    users: Number(row.users),
  }));
}
