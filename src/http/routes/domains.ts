import { Type } from 'typebox';
import type { App } from '../../app.js';
import type { Deps } from '../../deps.js';
import { getDomainFor } from '../../identity/domains.js';
import { requireCaller } from '../auth.js';
import { renderDomain } from '../render.js';

const domainParams = Type.Object({ domainId: Type.String({ maxLength: 64 }) });

export function registerDomainRoutes(app: App, deps: Deps): void {
  app.get('/v2.0/RAX-AUTH/domains/:domainId', { schema: { params: domainParams } }, async (request) => {
    const caller = await requireCaller(deps, request);
    return renderDomain(await getDomainFor(deps, caller.user, request.params.domainId));
  });
}
