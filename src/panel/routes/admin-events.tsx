import type { FastifyInstance } from 'fastify';
import { authorize } from '../../access/caller.js';
import { EVENT_TITLES, isEventType } from '../../events/describe.js';
import { listAccountUsersFor } from '../../identity/users.js';
import { type EventFilter, type EventView, listEvents } from '../../reports/events-query.js';
import type { Deps } from '../../services/deps.js';
import type { DomainRow, UserView } from '../../store/schema.js';
import { Button, Card, SelectField } from '../components.js';
import { type PageContext, pageContext, sendPage } from '../render.js';
import { AccountLayout, accountPath, TAB_PATHS, Time, withAccount } from './admin-shared.js';

const PERIODS = {
  hour: { label: 'Last hour', ms: 60 * 60_000 },
  day: { label: 'Last 24 hours', ms: 24 * 60 * 60_000 },
  week: { label: 'Last 7 days', ms: 7 * 24 * 60 * 60_000 },
  month: { label: 'Last 30 days', ms: 30 * 24 * 60 * 60_000 },
} as const;
type Period = keyof typeof PERIODS;

const PAGE_SIZE = 200;

/** The filter as chosen on the page; anything not offered reads as "all". */
interface Chosen {
  user: string;
  type: string;
  period: Period | '';
}

function chosenFrom(query: Record<string, unknown>, users: UserView[]): Chosen {
  const text = (name: string) => (typeof query[name] === 'string' ? (query[name] as string) : '');
  const user = users.some((candidate) => candidate.id === text('user')) ? text('user') : '';
  const type = isEventType(text('type')) ? text('type') : '';
  const period = Object.hasOwn(PERIODS, text('since')) ? (text('since') as Period) : '';
  return { user, type, period };
}

function EventsPage({
  ctx,
  account,
  users,
  events,
  chosen,
  viewerId,
}: {
  ctx: PageContext;
  account: DomainRow;
  users: UserView[];
  events: EventView[];
  chosen: Chosen;
  viewerId: string;
}) {
  // A username, with its id on hover; "You" for the viewer; the administrator who acted from
  // outside the account by that fact. The id stays in the title for support requests.
  const who = (id: string | null, username: string | null) => {
    if (id === null) return <span>—</span>;
    if (id === viewerId) return <span title={id}>You</span>;
    return <span title={id}>{username ?? 'Outside this account'}</span>;
  };
  return (
    <AccountLayout ctx={ctx} account={account} tab="events" title="Security Events">
      <Card>
        <form method="get" action={accountPath(account.id, TAB_PATHS.events)} class="filter-form">
          <div class="filter-fields">
            <SelectField
              name="user"
              label="User"
              value={chosen.user}
              options={[
                { value: '', label: 'All users' },
                ...users.map((user) => ({ value: user.id, label: user.username })),
              ]}
            />
            <SelectField
              name="type"
              label="Type"
              value={chosen.type}
              options={[
                { value: '', label: 'All types' },
                ...Object.entries(EVENT_TITLES).map(([value, label]) => ({ value, label })),
              ]}
            />
            <SelectField
              name="since"
              label="Time"
              value={chosen.period}
              options={[
                ...Object.entries(PERIODS).map(([value, period]) => ({ value, label: period.label })),
                { value: '', label: 'All kept events' },
              ]}
            />
          </div>
          <Button kind="secondary">Filter</Button>
        </form>
        <p class="hint" role="status">
          {events.length === 0
            ? 'No event matches.'
            : `${events.length === 1 ? '1 event' : `${events.length} events`}, newest first.`}
          {events.length === PAGE_SIZE ? ` Only the newest ${PAGE_SIZE} are shown: narrow the filter.` : ''}
        </p>
        {events.length === 0 ? null : (
          <div class="table-wrap">
            <table class="events-table">
              <thead>
                <tr>
                  <th scope="col">Time</th>
                  <th scope="col">Event</th>
                  <th scope="col">User</th>
                  <th scope="col" class="optional">
                    By
                  </th>
                  <th scope="col" class="optional">
                    From
                  </th>
                  <th scope="col">Details</th>
                </tr>
              </thead>
              <tbody>
                {events.map((event) => (
                  <tr key={event.id}>
                    <td>
                      <Time at={Date.parse(event.time)} />
                    </td>
                    <td>{event.title}</td>
                    <td class="wrap">{who(event.userId, event.username)}</td>
                    <td class="optional wrap">
                      {event.actorId === event.userId ? 'Same user' : who(event.actorId, event.actorUsername)}
                    </td>
                    <td class="optional">{event.source ?? '—'}</td>
                    <td class="wrap details-cell">{event.summary}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )}
      </Card>
    </AccountLayout>
  );
}

export function registerAdminEventRoutes(app: FastifyInstance, deps: Deps): void {
  app.get(
    '/admin/accounts/:domainId/events',
    withAccount(deps, async (request, reply, { session, account }) => {
      // Before anything is read: the event log has its own rule (user managers may not read it).
      authorize(session, { kind: 'events.read', domainId: account.id });
      const users = await listAccountUsersFor(deps, session, account.id);
      const chosen = chosenFrom(request.query as Record<string, unknown>, users);
      const filter: EventFilter = { domainId: account.id, limit: PAGE_SIZE };
      if (chosen.user !== '') filter.userId = chosen.user;
      if (chosen.type !== '') filter.type = chosen.type;
      if (chosen.period !== '')
        filter.since = new Date(deps.clock.now() - PERIODS[chosen.period].ms).toISOString();
      const events = await listEvents(deps, session, filter);
      return sendPage(
        reply,
        <EventsPage
          ctx={pageContext(request, reply, session)}
          account={account}
          users={users}
          events={events}
          chosen={chosen}
          viewerId={session.user.id}
        />,
      );
    }),
  );
}
