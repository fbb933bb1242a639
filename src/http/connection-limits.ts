import diagnostics from 'node:diagnostics_channel';
import type { Server } from 'node:http';
import type { Socket } from 'node:net';
import ipaddr from 'ipaddr.js';
import type { Logger } from 'pino';
import type { Clock } from '../core/clock.js';
import { sourceKey } from '../lockout/source-failures.js';

export interface ConnectionLimits {
  /** Open connections one client address may hold; 0 = no cap. */
  perAddress: number;
  /** Of those, connections silent for IDLE_AFTER_MS with no request in progress; 0 = no cap. */
  idlePerAddress: number;
  /** Addresses or CIDR ranges exempt from both caps: every client arrives through them. */
  trustedProxies: string[];
}

/** Whether an address is one of `entries` (addresses or CIDR ranges, IPv4-mapped IPv6 as IPv4). */
export function addressMatcher(entries: string[]): (address: string) => boolean {
  const ranges = entries.map((entry): [ipaddr.IPv4 | ipaddr.IPv6, number] => {
    if (entry.includes('/')) return ipaddr.parseCIDR(entry);
    const address = ipaddr.process(entry);
    return [address, address.kind() === 'ipv4' ? 32 : 128];
  });
  return (text) => {
    if (!ipaddr.isValid(text)) return false;
    const address = ipaddr.process(text);
    return ranges.some(([range, bits]) => {
      if (address.kind() === 'ipv4' && range.kind() === 'ipv4')
        return (address as ipaddr.IPv4).match(range as ipaddr.IPv4, bits);
      if (address.kind() === 'ipv6' && range.kind() === 'ipv6')
        return (address as ipaddr.IPv6).match(range as ipaddr.IPv6, bits);
      return false;
    });
  };
}

/**
 * A client that opens a connection sends its request at once; one silent for this long (or idle
 * this long after an answer) is holding the connection, and counts against the idle cap. Fresh
 * connections do not, so a burst of concurrent requests is not mistaken for a flood.
 */
export const IDLE_AFTER_MS = 1000;

interface AddressState {
  /** Each open connection: since when it waits for a request, or null while one is in progress. */
  sockets: Map<Socket, number | null>;
  /** Logged once while the address stays over a cap, so a flood is not also a log flood. */
  reported: boolean;
}

/**
 * Caps what one client address holds of the server's LATCHKEY_MAX_CONNECTIONS, so one address
 * (idle sockets, slow headers) cannot take every connection and leave the others unanswered.
 * A connection over a cap is closed as soon as it is accepted, as Node does past maxConnections.
 * An IPv6 client counts by its /64, as the per-source login limit does.
 */
export function limitConnectionsPerAddress(
  server: Server,
  limits: ConnectionLimits,
  events: { clock: Clock; log: Logger; refused: () => void },
): void {
  if (limits.perAddress === 0 && limits.idlePerAddress === 0) return;
  const trusted = addressMatcher(limits.trustedProxies);
  const byAddress = new Map<string, AddressState>();
  const stateOf = new WeakMap<Socket, AddressState>();

  server.on('connection', (socket: Socket) => {
    const address = socket.remoteAddress;
    if (address === undefined || trusted(address)) return;
    const key = sourceKey(address);
    let state = byAddress.get(key);
    if (!state) {
      state = { sockets: new Map(), reported: false };
      byAddress.set(key, state);
    }
    const now = events.clock.now();
    const open = state.sockets.size;
    let idle = 0;
    if (limits.idlePerAddress > 0 && open >= limits.idlePerAddress) {
      for (const since of state.sockets.values()) if (since !== null && now - since >= IDLE_AFTER_MS) idle++;
    }
    const over =
      (limits.perAddress > 0 && open >= limits.perAddress) ||
      (limits.idlePerAddress > 0 && idle >= limits.idlePerAddress);
    if (over) {
      if (!state.reported) {
        state.reported = true;
        events.log.warn(
          { address: key, open, idle, cap: limits.perAddress, idleCap: limits.idlePerAddress },
          'connections from one address over LATCHKEY_MAX_CONNECTIONS_PER_ADDRESS or LATCHKEY_MAX_IDLE_CONNECTIONS_PER_ADDRESS: further ones are closed at once',
        );
      }
      events.refused();
      socket.destroy();
      return;
    }
    const held = state;
    held.sockets.set(socket, now);
    stateOf.set(socket, held);
    socket.once('close', () => {
      held.sockets.delete(socket);
      if (held.sockets.size === 0) byAddress.delete(key);
    });
  });

  if (limits.idlePerAddress === 0) return;
  // The start is published before any 'request' listener runs, so the answer cannot be out
  // before the connection is marked busy.
  onServerChannel(server, 'http.server.request.start', (socket) => {
    const state = stateOf.get(socket);
    if (state?.sockets.has(socket)) state.sockets.set(socket, null);
  });
  // A keep-alive connection waits for its next request once this answer is out. An answer that
  // never finishes ends with its connection, whose 'close' forgets it above.
  onServerChannel(server, 'http.server.response.finish', (socket) => {
    const state = stateOf.get(socket);
    if (state?.sockets.has(socket)) state.sockets.set(socket, events.clock.now());
  });
}

/** What Node publishes on its http.server.* diagnostics channels. */
interface HttpServerMessage {
  socket: Socket;
  server: Server;
}

/**
 * Node's own per-request diagnostics channel, for this server's requests only, until it closes.
 * The channels are published for every server in the process; a subscriber costs a call each,
 * where a 'request' listener and listeners on each response cost allocations on the hot path.
 */
function onServerChannel(
  server: Server,
  channel: 'http.server.request.start' | 'http.server.response.finish',
  handle: (socket: Socket) => void,
): void {
  const subscriber = (message: unknown) => {
    const { socket, server: from } = message as HttpServerMessage;
    if (from === server) handle(socket);
  };
  diagnostics.subscribe(channel, subscriber);
  server.once('close', () => diagnostics.unsubscribe(channel, subscriber));
}

/**
 * How often the headers timeout is checked, by Node (its connectionsCheckingInterval, 30 s by
 * default: a 30 s limit could hold 60 s) and by the sweep below: a quarter of it, 100 ms to 1 s.
 */
export function headersCheckIntervalMs(headersTimeoutMs: number): number {
  return Math.max(100, Math.min(1000, headersTimeoutMs / 4));
}

/**
 * Node's headersTimeout starts with a request's first byte: a connection that never sends one
 * would be held until the client lets go (sockets opened and left silent, the cheapest flood).
 * A connection that has sent nothing `ms` after it was accepted is closed; once a byte arrives,
 * Node's own request timers and then the keep-alive timeout are in charge.
 *
 * One sweep, not a socket timeout per connection: Node 24.21 and later reuse a socket's timer
 * object, and with a new connection's own timer cleared at its first request, now and then a
 * whole duration of the process's timers never fired again (never seen on 24.18).
 */
export function closeSilentConnections(server: Server, ms: number, clock: Clock): void {
  // Accepted and not yet asked anything, with when each was accepted; Map order is accept order.
  const silent = new Map<Socket, number>();
  const sweep = () => {
    const now = clock.now();
    for (const [socket, acceptedAt] of silent) {
      if (now - acceptedAt < ms) break;
      silent.delete(socket);
      // Headers on their way are Node's to time out, with its 408.
      if (socket.bytesRead === 0) socket.destroy();
    }
  };
  const timer = setInterval(sweep, headersCheckIntervalMs(ms));
  timer.unref();
  server.once('close', () => clearInterval(timer));
  server.on('connection', (socket: Socket) => {
    if (socket.destroyed) return;
    silent.set(socket, clock.now());
    socket.once('close', () => silent.delete(socket));
  });
  onServerChannel(server, 'http.server.request.start', (socket) => {
    silent.delete(socket);
  });
}
