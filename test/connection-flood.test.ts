import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { loadConfig } from '../src/config/config.js';
import { ManualClock } from '../src/core/clock.js';
import { addressMatcher, IDLE_AFTER_MS } from '../src/http/connection-limits.js';
import { type RunningServer, startServer } from '../src/server/main.js';
import { TEST_KEYS } from './support/harness.js';

/**
 * One client address holding connections open must not take the instance away from the others.
 * Loopback covers 127.0.0.0/8 on Linux, so 127.0.0.1, .2 and .3 are three client addresses.
 * The tests wait on the server's own connection events, not on time; how long a connection has
 * been silent is the injected clock's.
 */
interface Running {
  server: RunningServer;
  clock: ManualClock;
  port: number;
  dir: string;
  /** Resolves once the server has taken `count` more connections (accepted, capped or dropped). */
  handled(count: number): Promise<{ kept: number; closed: number }>;
  /** The server's end of a client socket it kept. */
  serverSide(client: net.Socket): net.Socket | undefined;
}

async function serve(env: Record<string, string>): Promise<Running> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'latchkey-flood-'));
  const config = loadConfig({
    LATCHKEY_DATA_DIR: dir,
    LATCHKEY_PORT: '0',
    LATCHKEY_SECRET_KEYS: TEST_KEYS,
    LATCHKEY_ARGON2_MEMORY_KIB: '1024',
    LATCHKEY_ARGON2_ITERATIONS: '1',
    LATCHKEY_LOG_LEVEL: 'silent',
    ...env,
  });
  const clock = new ManualClock(Date.UTC(2026, 11, 1));
  const server = await startServer(config, { clock });
  const port = Number(new URL(server.url).port);
  // Listeners added after the server's own: by the time this one runs, a connection over a cap
  // is already destroyed.
  let kept = 0;
  let closed = 0;
  const keptSockets = new Set<net.Socket>();
  const waiters: { target: number; resolve: () => void }[] = [];
  const settle = () => {
    for (const waiter of waiters.splice(0)) {
      if (kept + closed >= waiter.target) waiter.resolve();
      else waiters.push(waiter);
    }
  };
  server.app.server.on('connection', (socket: net.Socket) => {
    if (socket.destroyed) closed++;
    else {
      kept++;
      keptSockets.add(socket);
      socket.once('close', () => keptSockets.delete(socket));
    }
    settle();
  });
  // Past LATCHKEY_MAX_CONNECTIONS Node drops a connection without a 'connection' event.
  server.app.server.on('drop', () => {
    closed++;
    settle();
  });
  return {
    server,
    clock,
    port,
    dir,
    serverSide: (client) =>
      [...keptSockets].find(
        (socket) => socket.remotePort === client.localPort && socket.remoteAddress === client.localAddress,
      ),
    handled(count) {
      const start = { kept, closed };
      return new Promise((resolve) => {
        waiters.push({
          target: kept + closed + count,
          resolve: () => resolve({ kept: kept - start.kept, closed: closed - start.closed }),
        });
        settle();
      });
    },
  };
}

/** A connection from `localAddress` that sends nothing. */
function idleSocket(port: number, localAddress: string): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ port, host: '127.0.0.1', localAddress }, () => resolve(socket));
    // After the connect, an error is the server closing a capped connection: the point here.
    socket.on('error', reject);
  });
}

async function idleSockets(port: number, localAddress: string, count: number): Promise<net.Socket[]> {
  const sockets: net.Socket[] = [];
  // In batches: a listen backlog is 511 connections by default.
  for (let index = 0; index < count; index += 100) {
    const batch = Math.min(100, count - index);
    sockets.push(...(await Promise.all(Array.from({ length: batch }, () => idleSocket(port, localAddress)))));
  }
  return sockets;
}

/** GET /health on a connection of its own from `localAddress`; the status, or the error's code. */
function health(port: number, localAddress: string): Promise<number | string> {
  return new Promise((resolve) => {
    const request = http.get(
      { host: '127.0.0.1', port, path: '/health', localAddress, agent: false },
      (response) => {
        response.resume();
        response.on('end', () => resolve(response.statusCode ?? 0));
      },
    );
    request.on('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? error.message));
  });
}

describe('connections per client address, with the default limits', () => {
  let running: Running;
  const held: net.Socket[] = [];
  after(async () => {
    for (const socket of held) socket.destroy();
    await running?.server.close();
    if (running) fs.rmSync(running.dir, { recursive: true, force: true });
  });

  test('regression: 1,050 idle sockets from one address took the instance offline; now /health answers another address every time', async () => {
    // Default caps; timeouts long enough that no held socket is closed by time during the test.
    running = await serve({ LATCHKEY_HEADERS_TIMEOUT_MS: '300000', LATCHKEY_REQUEST_TIMEOUT_MS: '600000' });
    const handled = running.handled(1050);
    held.push(...(await idleSockets(running.port, '127.0.0.1', 1050)));
    const flood = await handled;
    assert.equal(flood.kept, 100, 'one address holds at most LATCHKEY_MAX_CONNECTIONS_PER_ADDRESS');
    assert.equal(flood.closed, 950);

    const statuses: (number | string)[] = [];
    for (let poll = 0; poll < 48; poll++) statuses.push(await health(running.port, '127.0.0.2'));
    assert.deepEqual(statuses, Array(48).fill(200), 'every poll from the other address is answered');
    assert.equal(
      held.filter((socket) => running.serverSide(socket) !== undefined).length,
      100,
      'the kept ones stay open',
    );
  });
});

describe('connections per client address, with small caps', () => {
  let running: Running;
  const held: net.Socket[] = [];
  after(async () => {
    for (const socket of held) socket.destroy();
    await running?.server.close();
    if (running) fs.rmSync(running.dir, { recursive: true, force: true });
  });

  test('an address holds at most LATCHKEY_MAX_CONNECTIONS_PER_ADDRESS, busy or not', async () => {
    running = await serve({
      LATCHKEY_MAX_CONNECTIONS_PER_ADDRESS: '6',
      LATCHKEY_MAX_IDLE_CONNECTIONS_PER_ADDRESS: '4',
      LATCHKEY_TRUSTED_PROXIES: '127.0.0.3',
    });

    // Four connections, each with a request in progress (a body that never comes).
    let handled = running.handled(4);
    const busy = await idleSockets(running.port, '127.0.0.1', 4);
    held.push(...busy);
    assert.deepEqual(await handled, { kept: 4, closed: 0 });
    const requestsSeen = new Promise<void>((resolve) => {
      let seen = 0;
      const onRequest = () => {
        if (++seen < 4) return;
        running.server.app.server.off('request', onRequest);
        resolve();
      };
      running.server.app.server.on('request', onRequest);
    });
    for (const socket of busy)
      socket.write(
        'POST /v2.0/tokens HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 50\r\n\r\n',
      );
    await requestsSeen;
    running.clock.advance(IDLE_AFTER_MS);

    // Busy connections are not idle: two more fit under the cap of six; the seventh does not.
    handled = running.handled(3);
    held.push(...(await idleSockets(running.port, '127.0.0.1', 3)));
    assert.deepEqual(await handled, { kept: 2, closed: 1 });
  });

  test('connections silent for a second count against LATCHKEY_MAX_IDLE_CONNECTIONS_PER_ADDRESS; a burst of fresh ones does not', async () => {
    // Five at once from another address: a burst of requests on their way, not a flood.
    let handled = running.handled(5);
    held.push(...(await idleSockets(running.port, '127.0.0.2', 5)));
    assert.deepEqual(await handled, { kept: 5, closed: 0 });
    // A second later they are still silent: holding, not asking.
    running.clock.advance(IDLE_AFTER_MS);
    handled = running.handled(1);
    held.push(...(await idleSockets(running.port, '127.0.0.2', 1)));
    assert.deepEqual(await handled, { kept: 0, closed: 1 });
  });

  test('a connection given back makes room for the next one from the same address', async () => {
    const idle = held.filter(
      (socket) => socket.localAddress === '127.0.0.2' && running.serverSide(socket) !== undefined,
    );
    assert.equal(idle.length, 5);
    const closed = idle.slice(0, 2).map((client) => {
      const serverEnd = running.serverSide(client);
      assert.ok(serverEnd, 'the server holds it');
      const gone = new Promise((resolve) => serverEnd.once('close', resolve));
      client.destroy();
      return gone;
    });
    await Promise.all(closed);
    const handled = running.handled(1);
    held.push(...(await idleSockets(running.port, '127.0.0.2', 1)));
    assert.deepEqual(await handled, { kept: 1, closed: 0 }, 'three idle now, under the cap of four');
  });

  test('a trusted proxy, from whose address every client of it arrives, is not capped', async () => {
    running.clock.advance(IDLE_AFTER_MS);
    const handled = running.handled(20);
    held.push(...(await idleSockets(running.port, '127.0.0.3', 20)));
    assert.deepEqual(await handled, { kept: 20, closed: 0 });
  });
});

describe('connections that never send a byte', () => {
  let running: Running;
  after(async () => {
    await running?.server.close();
    if (running) fs.rmSync(running.dir, { recursive: true, force: true });
  });

  test('regression: a connection that never sent anything was held until the client let go; now it is closed at the headers timeout', {
    timeout: 15_000,
  }, async () => {
    running = await serve({ LATCHKEY_HEADERS_TIMEOUT_MS: '1000', LATCHKEY_REQUEST_TIMEOUT_MS: '2000' });
    const silent = await idleSocket(running.port, '127.0.0.6');
    // Reading, so the server's close reaches it as an end and then a close.
    silent.resume();
    let closed = false;
    const gone = new Promise((resolve) => silent.once('close', resolve)).then(() => {
      closed = true;
    });
    // One that has begun its headers is Node's to time out (with a 408), not closed as silent.
    const started = await idleSocket(running.port, '127.0.0.8');
    started.write('GET /health HTTP/1.1\r\nHost: x\r\n');
    const startedReply = new Promise<string>((resolve) => {
      let text = '';
      started.on('data', (chunk: Buffer) => {
        text += chunk.toString();
      });
      started.once('close', () => resolve(text));
    });
    // A keep-alive client on another connection is answered twice, the connection kept between.
    const answered = await new Promise<string>((resolve, reject) => {
      const socket = net.connect({ port: running.port, host: '127.0.0.1', localAddress: '127.0.0.7' });
      let text = '';
      socket.on('data', (chunk: Buffer) => {
        text += chunk.toString();
        if (text.split('HTTP/1.1 200').length === 3) {
          socket.destroy();
          resolve(text);
        }
      });
      socket.on('error', reject);
      socket.write('GET /health HTTP/1.1\r\nHost: x\r\n\r\n');
      socket.once('data', () => socket.write('GET /health HTTP/1.1\r\nHost: x\r\n\r\n'));
    });
    assert.match(answered, /"status":"ok"/);
    // Silent since it was accepted, but not yet for the headers timeout: held.
    running.clock.advance(999);
    await new Promise((resolve) => setTimeout(resolve, 600));
    assert.equal(closed, false, 'closed before the headers timeout');
    // At the timeout, the next sweep (every quarter of it) closes it.
    running.clock.advance(1);
    await gone;
    assert.ok(silent.destroyed);
    const reply = await startedReply;
    assert.match(reply, /^HTTP\/1\.1 408 /, 'headers on their way get Node’s 408, not a silent close');
    started.destroy();
  });
});

test('trusted proxies are matched by address or range, IPv4-mapped IPv6 as IPv4', () => {
  const trusted = addressMatcher(['127.0.0.3', '10.0.0.0/8', '2001:db8::/32']);
  for (const address of ['127.0.0.3', '::ffff:127.0.0.3', '10.1.2.3', '2001:db8::5'])
    assert.ok(trusted(address), address);
  for (const address of ['127.0.0.4', '11.0.0.1', '2001:db9::1', '::1', 'not an address'])
    assert.ok(!trusted(address), address);
});
