import type { Command } from 'commander';
import type { EventsResponse, EventView } from '../../http/v2/wire.js';
import { authorized } from '../client.js';
import { usageError } from '../failure.js';
import { out } from '../output.js';
import { requireSession, type Session } from '../session.js';
import { example, type GlobalOptions, globals, integerIn, resolveUser } from './common.js';

type EventOptions = GlobalOptions & {
  user?: string;
  type?: string;
  since?: string;
  account?: string;
  limit: number;
  follow?: boolean;
  interval: number;
};

const UNITS: Record<string, number> = { s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** `--since 15m` (ago) or an ISO-8601 time, sent to the server as ISO-8601. */
export function parseSince(value: string, now = Date.now()): string {
  const relative = /^(\d+)([smhd])$/.exec(value.trim());
  if (relative?.[1] && relative[2]) {
    return new Date(now - Number(relative[1]) * (UNITS[relative[2]] ?? 0)).toISOString();
  }
  const time = Date.parse(value);
  if (!/^\d{4}-\d{2}-\d{2}/.test(value) || Number.isNaN(time)) {
    throw usageError(
      `--since takes a time like 2026-11-22T10:00:00Z or an age like 15m, 2h, 7d; not '${value}'`,
    );
  }
  return new Date(time).toISOString();
}

/** Usernames, not ids (--json has both); the server's plain-language title and summary. */
function render(event: EventView): string {
  const user = event.userId === null ? '' : (event.username ?? `(deleted user ${event.userId.slice(0, 8)})`);
  const actor =
    event.actorId === null || event.actorId === event.userId
      ? ''
      : `by ${event.actorUsername ?? 'an administrator outside the account'}`;
  const parts = [
    out.dim(event.time),
    event.title,
    user,
    actor,
    event.source ? `(${event.source})` : '',
    event.summary,
  ];
  return parts.filter((part) => part !== '').join('  ');
}

async function fetchEvents(
  session: Session,
  query: Record<string, string | undefined>,
): Promise<EventView[]> {
  return (
    await authorized<EventsResponse>(session, 'GET', '/v2.0/RAX-AUTH/events', 'could not read events', {
      query,
    })
  ).body.events;
}

async function events(options: EventOptions): Promise<void> {
  const session = requireSession(options.url);
  const userId = options.user
    ? (await resolveUser(session, options.user, 'could not read events')).id
    : undefined;
  const query = {
    userId,
    type: options.type,
    domainId: options.account,
    since: options.since === undefined ? undefined : parseSince(options.since),
    limit: String(options.limit),
  };
  const print = (event: EventView) => (options.json ? out.jsonLine(event) : out.line(render(event)));
  // The server answers newest first; a log reads oldest first.
  const first = (await fetchEvents(session, query)).reverse();
  for (const event of first) print(event);
  if (!options.follow) return;

  let lastId = first.at(-1)?.id ?? 0;
  let since = first.at(-1)?.time ?? query.since ?? new Date().toISOString();
  for (;;) {
    await new Promise((resolve) => setTimeout(resolve, options.interval * 1000));
    // `since` is inclusive: events of the same millisecond come again and are skipped by id.
    const fresh = (await fetchEvents(session, { ...query, since }))
      .reverse()
      .filter((event) => event.id > lastId);
    for (const event of fresh) print(event);
    const newest = fresh.at(-1);
    if (newest) {
      lastId = newest.id;
      since = newest.time;
    }
  }
}

export function registerEventCommands(program: Command): void {
  example(
    program
      .command('events')
      .description('security events (logins, lockouts, devices, policy changes), oldest first')
      .option('--user <user>', 'only events about this user (username or id)')
      .option('--type <type>', 'only this type, e.g. login.failed, mfa.locked, device.added')
      .option('--since <when>', 'from this time (2026-11-22T10:00:00Z) or age (15m, 2h, 7d)')
      .option('--account <id>', 'only this account (administrators)')
      .option('--limit <n>', 'at most this many of the newest events', integerIn(1, 1000, '--limit'), 100)
      .option('-f, --follow', 'keep printing new events as they happen (Ctrl-C to stop)')
      .option(
        '--interval <seconds>',
        'how often --follow asks the server',
        integerIn(1, 3600, '--interval'),
        2,
      )
      .action(async (_options: unknown, command: Command) => events(globals<EventOptions>(command))),
    'latchkey events --user bob --since 1h',
    'latchkey events --type mfa.locked --follow',
  );
}
