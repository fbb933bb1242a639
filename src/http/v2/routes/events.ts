import { Type } from 'typebox';
import { listEvents, MAX_EVENTS_PER_PAGE } from '../../../reports/events-query.js';
import type { Deps } from '../../../services/deps.js';
import { requireCaller } from '../../auth.js';
import { described, fault, operation, Tags } from '../../openapi.js';
import type { HttpServer } from '../../server-instance.js';
import { domainId, hexId } from '../ids.js';
import { EventsResponseSchema } from '../schemas.js';

const eventQuery = Type.Object({
  userId: Type.Optional({ ...hexId(), description: 'Events about this user.' }),
  domainId: Type.Optional({ ...domainId(), description: 'Events of this account.' }),
  type: Type.Optional(
    Type.String({ pattern: '^[a-z_.]{1,64}$', description: 'One event type, e.g. mfa.locked.' }),
  ),
  since: Type.Optional(
    Type.String({ maxLength: 64, description: 'An ISO 8601 time: events at or after it.' }),
  ),
  limit: Type.Optional(
    Type.String({
      pattern: '^[0-9]{1,6}$',
      description: `At most this many, newest first: 1 to ${MAX_EVENTS_PER_PAGE}, default 100.`,
    }),
  ),
});

const eventsDoc = operation({
  summary: 'Security events, newest first',
  description:
    "Every login step, lockout, unlock, device change, code and policy change, with its actor, user, account and client address; never a secret. identity:admin reads all; an account owner reads its own account's events, whatever the filter.",
  tag: Tags.events,
  extension: true,
  responses: {
    200: described(EventsResponseSchema, 'The matching events.'),
    400: fault(400, 'A filter of the wrong form.', [
      'Invalid request: userId must be a 32-character lowercase hexadecimal id.',
      'Invalid request: limit must be a whole number.',
      `limit must be between 1 and ${MAX_EVENTS_PER_PAGE}.`,
      'since must be an ISO-8601 date-time, e.g. 2026-11-22T10:00:00Z.',
    ]),
  },
});

export function registerEventRoutes(app: HttpServer, deps: Deps): void {
  app.get('/v2.0/RAX-AUTH/events', { schema: { querystring: eventQuery, ...eventsDoc } }, async (request) => {
    const caller = await requireCaller(deps, request);
    const { userId, domainId, type, since, limit } = request.query;
    const events = await listEvents(deps, caller, {
      ...(userId === undefined ? {} : { userId }),
      ...(domainId === undefined ? {} : { domainId }),
      ...(type === undefined ? {} : { type }),
      ...(since === undefined ? {} : { since }),
      ...(limit === undefined ? {} : { limit: Number(limit) }),
    });
    return { events };
  });
}
