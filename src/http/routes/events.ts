import { Type } from 'typebox';
import type { Deps } from '../../deps.js';
import { listEvents } from '../../events/query.js';
import type { Api as App } from '../api.js';
import { requireCaller } from '../auth.js';
import { domainId, hexId } from '../ids.js';

const eventQuery = Type.Object({
  userId: Type.Optional(hexId()),
  domainId: Type.Optional(domainId()),
  type: Type.Optional(Type.String({ pattern: '^[a-z_.]{1,64}$' })),
  since: Type.Optional(Type.String({ maxLength: 64 })),
  limit: Type.Optional(Type.String({ pattern: '^[0-9]{1,6}$' })),
});

export function registerEventRoutes(app: App, deps: Deps): void {
  app.get('/v2.0/RAX-AUTH/events', { schema: { querystring: eventQuery } }, async (request) => {
    const caller = await requireCaller(deps, request);
    const { userId, domainId, type, since, limit } = request.query;
    const events = await listEvents(deps, caller.user, {
      ...(userId === undefined ? {} : { userId }),
      ...(domainId === undefined ? {} : { domainId }),
      ...(type === undefined ? {} : { type }),
      ...(since === undefined ? {} : { since }),
      ...(limit === undefined ? {} : { limit: Number(limit) }),
    });
    return { events };
  });
}
