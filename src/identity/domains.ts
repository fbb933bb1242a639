import { acting, authorize } from '../auth/caller.js';
import type { Deps } from '../deps.js';
import { notFound } from '../errors.js';
import type { Db, DomainRow, UserView } from '../store/schema.js';
import { DEFAULT_DOMAIN } from './users.js';

export async function getDomainFor(deps: Deps, caller: UserView, domainId: string): Promise<DomainRow> {
  authorize(acting(caller), { kind: 'domain.view', domainId });
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
