import type { FastifyInstance } from 'fastify';
import { authorize } from '../../auth/caller.js';
import type { Deps } from '../../deps.js';
import type { EventType } from '../../events/events.js';
import { type EventFilter, type EventView, listEvents } from '../../events/query.js';
import { listAccountUsersFor } from '../../identity/users.js';
import type { DomainRow, UserView } from '../../store/schema.js';
import { Button, Card, SelectField } from '../components.js';
import { type PageContext, pageContext, sendPage } from '../render.js';
import { AccountLayout, accountPath, TAB_PATHS, Time, withAccount } from './admin-shared.js';

/** What each security event is called on the page (every type, checked by the compiler). */
const EVENT_LABELS: Record<EventType, string> = {
  'login.succeeded': 'Signed in',
  'login.failed': 'Sign-in failed',
  'login.challenged': 'Asked for a passcode',
  'login.passcode_failed': 'Wrong passcode',
  'login.rate_limited': 'Refused: too many failed sign-ins from one address',
  'sms.rate_limited': 'Text message refused: limit reached',
  'password.locked': 'Locked: too many wrong passwords',
  'mfa.locked': 'Locked: too many wrong passcodes',
  'mfa.unlocked': 'Unlocked',
  'mfa.enabled': 'Multi-factor turned on',
  'mfa.disabled': 'Multi-factor turned off',
  'mfa.removed': 'Multi-factor reset',
  'mfa.factor_changed': 'Default method changed',
  'mfa.user_enforcement_changed': 'User requirement changed',
  'device.added': 'Device added',
  'device.verified': 'Device verified',
  'device.removed': 'Device removed',
  'bypass_codes.generated': 'Bypass codes generated',
  'bypass_code.used': 'Signed in with a bypass code',
  'temporary_code.sent': 'Temporary code sent',
  'temporary_code.used': 'Temporary code used',
  'domain.enforcement_changed': 'Account requirement changed',
  'tokens.revoked': 'Logged out',
  'user.created': 'User created',
  'user.updated': 'User changed',
  'user.deleted': 'User deleted',
  'password.changed': 'Password changed',
  'api_key.reset': 'API key reset',
  'api_key.deleted': 'API key deleted',
};

const LIFTED_LABELS: Record<string, string> = {
  password: 'password lock lifted',
  passcode: 'passcode lock lifted',
};

/** The event's name on the page; an unlock says which locks it lifted. */
function eventLabel(event: EventView): string {
  const label = EVENT_LABELS[event.type as EventType] ?? event.type;
  if (event.type !== 'mfa.unlocked' || !Array.isArray(event.detail.lifted)) return label;
  const lifted = event.detail.lifted.map((kind) => LIFTED_LABELS[String(kind)] ?? String(kind));
  return `${label}: ${lifted.length === 0 ? 'nothing was locked' : lifted.join(', ')}`;
}

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
  const type = Object.hasOwn(EVENT_LABELS, text('type')) ? text('type') : '';
  const period = Object.hasOwn(PERIODS, text('since')) ? (text('since') as Period) : '';
  return { user, type, period };
}

function detailText(detail: Record<string, unknown>): string {
  return Object.entries(detail)
    .map(([key, value]) => `${key}: ${typeof value === 'string' ? value : JSON.stringify(value)}`)
    .join(', ');
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
  const names = new Map(users.map((user) => [user.id, user.username]));
  const who = (id: string | null) => {
    if (id === null) return '—';
    if (id === viewerId) return `You (${names.get(id) ?? id})`;
    return names.get(id) ?? 'Outside this account';
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
                ...Object.entries(EVENT_LABELS).map(([value, label]) => ({ value, label })),
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
                    <td>{eventLabel(event)}</td>
                    <td class="wrap">{who(event.userId)}</td>
                    <td class="optional wrap">{who(event.actorId)}</td>
                    <td class="optional">{event.source ?? '—'}</td>
                    <td class="wrap details-cell">{detailText(event.detail)}</td>
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
      const events = await listEvents(deps, session.user, filter);
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
