import ipaddr from 'ipaddr.js';
import { ApiError, serviceUnavailable } from '../core/errors.js';
import { recordRepeatedEvent } from '../events/events.js';
import type { Deps } from '../services/deps.js';

/** LATCHKEY_LOGIN_FAILURES_PER_SOURCE counts over fixed windows of this length (API.md). */
export const SOURCE_WINDOW_MS = 10 * 60_000;

export const TOO_MANY_FAILURES = 'Too many failed authentications from this address. Try again later.';

/**
 * One source's failed logins reached LATCHKEY_LOGIN_FAILURES_PER_SOURCE: 429 with Retry-After
 * (the end of the window). A class of its own, so each surface can say which limit was reached.
 */
export class SourceLimitReached extends ApiError {
  constructor(readonly retryAfterSeconds: number) {
    super(429, 'overLimit', TOO_MANY_FAILURES, {
      'Retry-After': String(Math.max(1, Math.ceil(retryAfterSeconds))),
    });
  }
}

/**
 * The unit one source is counted by. An IPv6 user usually holds a whole /64, so counting single
 * addresses would let one machine rotate through 2^64 of them; IPv4-mapped IPv6 is plain IPv4.
 */
export function sourceKey(source: string): string {
  if (!ipaddr.isValid(source)) return source;
  let address = ipaddr.parse(source);
  if (address.kind() === 'ipv6' && (address as ipaddr.IPv6).isIPv4MappedAddress())
    address = (address as ipaddr.IPv6).toIPv4Address();
  if (address.kind() === 'ipv4') return address.toString();
  const parts = (address as ipaddr.IPv6).parts.slice(0, 4);
  return `${parts.map((part) => part.toString(16)).join(':')}::/64`;
}

/** A slot held while an authentication is judged: kept if it fails, given back if it succeeds. */
export interface SourceFailureSlot {
  giveBack(): Promise<void>;
}

const NO_SLOT: SourceFailureSlot = { giveBack: async () => {} };

/**
 * Take a failure slot for this source *before* any password, key or passcode is judged, so
 * concurrent attempts can never push past the limit, and a source over it costs no argon2 work.
 * Over the limit: 429 with Retry-After (the end of the window), recorded as an event.
 */
export async function takeSourceFailureSlot(deps: Deps, source: string | null): Promise<SourceFailureSlot> {
  const limit = deps.config.loginFailuresPerSource;
  if (limit === 0 || source === null) return NO_SLOT;
  const now = deps.clock.now();
  const windowStart = now - (now % SOURCE_WINDOW_MS);
  const key = `login-failures:${sourceKey(source)}`;
  let taken: number | undefined;
  try {
    taken = await deps.counters.take(key, windowStart, SOURCE_WINDOW_MS, limit);
  } catch (error) {
    // Without the counter the limit cannot be kept: refuse rather than let guessing run free.
    deps.log.error({ err: error }, 'login failure counter unavailable');
    throw serviceUnavailable('The service is temporarily unable to authenticate. Try again later.');
  }
  if (taken === undefined) {
    await recordRepeatedEvent(deps.db, now, {
      type: 'login.rate_limited',
      subject: 'source',
      source,
      detail: { limit, windowMinutes: SOURCE_WINDOW_MS / 60_000 },
    });
    deps.metrics.throttled('login_failures');
    throw new SourceLimitReached((windowStart + SOURCE_WINDOW_MS - now) / 1000);
  }
  return {
    async giveBack() {
      try {
        await deps.counters.giveBack(key, windowStart);
      } catch (error) {
        // The login itself succeeded; a slot not given back only counts one failure too many.
        deps.log.warn({ err: error }, 'login failure counter unavailable');
      }
    },
  };
}

/**
 * A ceremony anyone may start without an account (a sign-in with a passkey alone) stores a
 * challenge: one source may start as many in a window as it may fail logins
 * (LATCHKEY_LOGIN_FAILURES_PER_SOURCE), so one address cannot fill the store. Over it: 429 with
 * Retry-After, as for failures.
 */
export async function takeAnonymousStartSlot(deps: Deps, source: string | null): Promise<void> {
  const limit = deps.config.loginFailuresPerSource;
  if (limit === 0 || source === null) return;
  const now = deps.clock.now();
  const windowStart = now - (now % SOURCE_WINDOW_MS);
  let taken: number | undefined;
  try {
    taken = await deps.counters.take(
      `anonymous-starts:${sourceKey(source)}`,
      windowStart,
      SOURCE_WINDOW_MS,
      limit,
    );
  } catch (error) {
    deps.log.error({ err: error }, 'anonymous start counter unavailable');
    throw serviceUnavailable('The service is temporarily unable to authenticate. Try again later.');
  }
  if (taken === undefined) {
    deps.metrics.throttled('login_failures');
    throw new SourceLimitReached((windowStart + SOURCE_WINDOW_MS - now) / 1000);
  }
}
