import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import ipaddr from 'ipaddr.js';
import type { Logger } from 'pino';
import { sourceKey } from '../lockout/source-failures.js';

export interface ConnectionLimits {
  /** Open connections one client address may hold; 0 = no cap. */
  perAddress: number;
  /** Of those, connections with no request in progress (new, or idle keep-alive); 0 = no cap. */
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
    return ranges.some(
      ([range, bits]) => range.kind() === address.kind() && address.match(range as never, bits),
    );
  };
}

interface AddressState {
  sockets: Set<Socket>;
  /** Logged once while the address stays over its cap, so a flood is not also a log flood. */
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
  events: { log: Logger; refused: () => void },
): void {
  if (limits.perAddress === 0 && limits.idlePerAddress === 0) return;
  const trusted = addressMatcher(limits.trustedProxies);
  const byAddress = new Map<string, AddressState>();
  /** Sockets with a request in progress (between its complete head and the end of its answer). */
  const busy = new WeakSet<Socket>();

  server.on('connection', (socket: Socket) => {
    const address = socket.remoteAddress;
    if (address === undefined || trusted(address)) return;
    const key = sourceKey(address);
    let state = byAddress.get(key);
    if (!state) {
      state = { sockets: new Set(), reported: false };
      byAddress.set(key, state);
    }
    const open = state.sockets.size;
    let idle = 0;
    if (limits.idlePerAddress > 0 && open >= limits.idlePerAddress) {
      for (const held of state.sockets) if (!busy.has(held)) idle++;
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
    held.sockets.add(socket);
    socket.once('close', () => {
      held.sockets.delete(socket);
      if (held.sockets.size === 0) byAddress.delete(key);
    });
  });

  if (limits.idlePerAddress === 0) return;
  server.on('request', (request: IncomingMessage, response: ServerResponse) => {
    const socket = request.socket;
    busy.add(socket);
    // A keep-alive connection is idle again once its answer is out (or the request is abandoned).
    const done = () => busy.delete(socket);
    response.once('finish', done);
    response.once('close', done);
  });
}
