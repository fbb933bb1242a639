import { Type } from 'typebox';
import type { Deps } from '../../deps.js';
import { getDomainFor } from '../../identity/domains.js';
import { parseDomainLevel, setDomainEnforcement } from '../../policy/domain-enforcement.js';
import type { Api as App } from '../api.js';
import { requireCaller } from '../auth.js';
import { domainId } from '../ids.js';
import { renderDomain } from '../render.js';

const domainParams = Type.Object({ domainId: domainId() });

export function registerDomainRoutes(app: App, deps: Deps): void {
  app.get('/v2.0/RAX-AUTH/domains/:domainId', { schema: { params: domainParams } }, async (request) => {
    const caller = await requireCaller(deps, request);
    return renderDomain(await getDomainFor(deps, caller.user, request.params.domainId));
  });

  app.put(
    '/v2.0/RAX-AUTH/domains/:domainId/multi-factor',
    {
      schema: {
        params: domainParams,
        querystring: Type.Object({
          dryRun: Type.Optional(Type.Union([Type.Literal('true'), Type.Literal('false')])),
        }),
      },
    },
    async (request, reply) => {
      const caller = await requireCaller(deps, request);
      const level = parseDomainLevel(request.body);
      const dryRun = request.query.dryRun === 'true';
      const impact = await setDomainEnforcement(
        deps,
        caller.user,
        { userId: caller.user.id, source: caller.source },
        request.params.domainId,
        level,
        dryRun,
      );
      if (dryRun) return reply.code(200).send({ 'RAX-AUTH:multiFactorDomainImpact': impact });
      return reply.code(204).send();
    },
  );
}
