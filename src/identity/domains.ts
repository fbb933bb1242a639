import { acting, authorize } from '../auth/caller.js';
import type { Deps } from '../deps.js';
import { notFound } from '../errors.js';
import type { DomainRow, UserView } from '../store/schema.js';

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
