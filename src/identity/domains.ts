import type { Deps } from '../deps.js';
import { forbidden, notFound } from '../errors.js';
import type { DomainRow, UserRow } from '../store/schema.js';
import { atLeast } from './roles.js';

export async function getDomainFor(deps: Deps, caller: UserRow, domainId: string): Promise<DomainRow> {
  const own = caller.domain_id !== null && caller.domain_id === domainId;
  if (!own && !atLeast(caller, 'identity:admin')) throw forbidden();
  const domain = await deps.db
    .selectFrom('domains')
    .selectAll()
    .where('id', '=', domainId)
    .executeTakeFirst();
  if (!domain) throw notFound(`Domain ${domainId} not found.`);
  return domain;
}
