import { type Acting, authorize, seesEveryDomain } from '../access/caller.js';
import { badRequest } from '../core/errors.js';
import { eventSummary, eventTitle } from '../events/describe.js';
import type { Deps } from '../services/deps.js';

export const MAX_EVENTS_PER_PAGE = 1000;

export interface EventFilter {
  userId?: string;
  domainId?: string;
  type?: string;
  since?: string;
  limit?: number;
}

export interface EventView {
  id: number;
  time: string;
  type: string;
  actorId: string | null;
  userId: string | null;
  domainId: string | null;
  source: string | null;
  detail: Record<string, unknown>;
  /** How many times it happened: repeated failures from one source count up one event a minute. */
  count: number;
  /** Ours: the usernames of userId and actorId, null when there is none (or it was deleted). */
  username: string | null;
  actorUsername: string | null;
  /** Ours: the event in plain language, as every surface shows it ("Logged in"). */
  title: string;
  /** Ours: the detail as a sentence ("With password and authenticator app."), or empty. */
  summary: string;
}

/**
 * GET /v2.0/RAX-AUTH/events: administrators read everything; an account's user-admin reads only
 * its own domain's events, whatever filter it asks for.
 */
export async function listEvents(deps: Deps, acting: Acting, filter: EventFilter): Promise<EventView[]> {
  const caller = acting.user;
  authorize(acting, { kind: 'events.read', domainId: filter.domainId });
  const admin = seesEveryDomain(caller);
  const limit = filter.limit ?? 100;
  if (!Number.isInteger(limit) || limit < 1 || limit > MAX_EVENTS_PER_PAGE) {
    throw badRequest(`limit must be between 1 and ${MAX_EVENTS_PER_PAGE}.`);
  }
  let since: number | undefined;
  if (filter.since !== undefined) {
    since = Date.parse(filter.since);
    if (!/^\d{4}-\d{2}-\d{2}/.test(filter.since) || Number.isNaN(since)) {
      throw badRequest('since must be an ISO-8601 date-time, e.g. 2026-11-22T10:00:00Z.');
    }
  }
  let query = deps.db
    .selectFrom('security_events')
    .selectAll()
    .orderBy('at', 'desc')
    .orderBy('id', 'desc')
    .limit(limit);
  const domainId = admin ? filter.domainId : caller.domain_id;
  if (domainId !== undefined) query = query.where('domain_id', '=', domainId ?? '');
  if (filter.userId !== undefined) query = query.where('user_id', '=', filter.userId);
  if (filter.type !== undefined) query = query.where('type', '=', filter.type);
  if (since !== undefined) query = query.where('at', '>=', since);
  const rows = await query.execute();
  const names = await usernamesOf(deps, [
    ...new Set(rows.flatMap((row) => [row.user_id, row.actor_id]).filter((id): id is string => id !== null)),
  ]);
  return rows.map((row) => {
    const detail = JSON.parse(row.detail) as Record<string, unknown>;
    const count = Number(row.count);
    // A deleted user's events keep the username its deletion recorded.
    const deletedName =
      row.type === 'user.deleted' && typeof detail.username === 'string' ? detail.username : null;
    return {
      id: Number(row.id),
      time: new Date(row.at).toISOString(),
      type: row.type,
      actorId: row.actor_id,
      userId: row.user_id,
      domainId: row.domain_id,
      source: row.source,
      detail,
      count,
      username: row.user_id === null ? null : (names.get(row.user_id) ?? deletedName),
      actorUsername: row.actor_id === null ? null : (names.get(row.actor_id) ?? null),
      title: eventTitle(row.type),
      summary: eventSummary(row.type, detail, count),
    };
  });
}

/** One query for the usernames of a page of events. */
async function usernamesOf(deps: Deps, ids: string[]): Promise<Map<string, string>> {
  if (ids.length === 0) return new Map();
  const rows = await deps.db.selectFrom('users').select(['id', 'username']).where('id', 'in', ids).execute();
  return new Map(rows.map((row) => [row.id, row.username]));
}
