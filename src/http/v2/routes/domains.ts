import { Type } from 'typebox';
import { AuthorizationMessages } from '../../../access/caller.js';
import { Messages } from '../../../core/errors.js';
import { getDomainFor } from '../../../identity/domains.js';
import {
  parseDomainLevel,
  parsePasskeysOnly,
  setDomainEnforcement,
} from '../../../policy/domain-enforcement.js';
import type { Deps } from '../../../services/deps.js';
import { requireCaller } from '../../auth.js';
import { described, fault, noContent, notFoundFault, operation, Tags } from '../../openapi.js';
import type { HttpServer } from '../../server-instance.js';
import { domainId } from '../ids.js';
import { renderDomain } from '../render.js';
import {
  DomainImpactResponseSchema,
  DomainMultiFactorRequestSchema,
  DomainResponseSchema,
} from '../schemas.js';

const domainParams = Type.Object({ domainId: domainId() });
const domainNotFound = notFoundFault('Domain 12345 not found.');

const getDoc = operation({
  summary: 'Get an account domain and its MFA enforcement level',
  description:
    'identity:admin and service administrators see any domain; account owners and user managers their own.',
  tag: Tags.domains,
  responses: { 200: described(DomainResponseSchema, 'The domain.'), 404: domainNotFound },
});

const enforcementDoc = operation({
  summary: 'Require MFA of every user of an account, or make it optional',
  description: `REQUIRED logs out, at once and on every instance, the users without MFA whose own level defers to the domain (DEFAULT): their password tokens are revoked, and their password login answers 403 until they set MFA up with a SETUP-MFA token. API keys keep working. The caller must have MFA enabled itself (or be user-level OPTIONAL).

Latchkey extension: \`?dryRun=true\` changes nothing and answers 200 with whom the change would log out and require to set up MFA.`,
  tag: Tags.domains,
  responses: {
    200: described(
      DomainImpactResponseSchema,
      'Latchkey extension, with ?dryRun=true: what the change would do; nothing was changed.',
    ),
    204: noContent('The level is set.'),
    400: fault(400, 'A missing or unknown level, or a bad dryRun.', [
      'Must provide domain multifactor enforcement level',
      'Invalid domain multifactor enforcement level: use OPTIONAL or REQUIRED.',
      'Invalid request: dryRun must be true or false.',
    ]),
    403: fault(403, 'The caller may not set this domain, or has no MFA itself.', [
      Messages.notAuthorized,
      AuthorizationMessages.mustHaveMfaToEnforce,
    ]),
    404: domainNotFound,
  },
});

export function registerDomainRoutes(app: HttpServer, deps: Deps): void {
  app.get(
    '/v2.0/RAX-AUTH/domains/:domainId',
    { schema: { params: domainParams, ...getDoc } },
    async (request) => {
      const caller = await requireCaller(deps, request);
      return renderDomain(await getDomainFor(deps, caller, request.params.domainId));
    },
  );

  app.put(
    '/v2.0/RAX-AUTH/domains/:domainId/multi-factor',
    {
      schema: {
        params: domainParams,
        querystring: Type.Object({
          dryRun: Type.Optional(
            Type.Union([Type.Literal('true'), Type.Literal('false')], {
              description: 'Latchkey extension: true answers what the change would do, and does nothing.',
            }),
          ),
        }),
        ...enforcementDoc,
      },
      config: { openapi: { body: DomainMultiFactorRequestSchema } },
    },
    async (request, reply) => {
      const caller = await requireCaller(deps, request);
      const level = parseDomainLevel(request.body);
      const passkeysOnly = parsePasskeysOnly(request.body);
      const dryRun = request.query.dryRun === 'true';
      const impact = await setDomainEnforcement(
        deps,
        caller,
        request.params.domainId,
        level,
        dryRun,
        passkeysOnly,
      );
      if (dryRun) return reply.code(200).send({ 'RAX-AUTH:multiFactorDomainImpact': impact });
      return reply.code(204).send();
    },
  );
}
