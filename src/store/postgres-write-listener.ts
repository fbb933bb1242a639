import { performance } from 'node:perf_hooks';
import type { Driver } from 'kysely';
import pg from 'pg';
import type { Write, WriteFeed } from './write-feed.js';

/** The channel the migration's triggers announce on (2026-12-07-write-notifications). */
export const WRITES_CHANNEL = 'latchkey_writes';

/**
 * The longest a remembered answer may lag a change committed by another instance: an instance
 * uses what it remembers only while its listener has proved, within this time, that it has
 * received every change committed before the proof (see PostgresWriteListener). README
 * ("PostgreSQL and several instances") states it.
 */
export const FEED_WINDOW_MS = 1000;
/** How often the listener proves itself; a few proofs fit in the window. */
const PROOF_INTERVAL_MS = 200;
const RECONNECT_DELAY_MS = 500;
/** A proof unanswered this long means the connection no longer delivers. */
const STALLED_MS = 5 * FEED_WINDOW_MS;

/**
 * Another instance's (and this one's) committed writes to tokens, users and accounts, as the
 * triggers announce them on PostgreSQL with LISTEN/NOTIFY, passed to `feed` like the writes this
 * process makes. PostgreSQL delivers notifications in commit order, and a session gets its own
 * notifications too, after those committed before them. So the listener proves it is current by
 * notifying itself: when its own notification, sent at time t, comes back, every change
 * committed before t has been passed on. `current()` holds while the last such proof was sent
 * within FEED_WINDOW_MS: a remembered answer is then at most that old (in practice, as old as
 * the notification's trip, a millisecond or two).
 *
 * A lost connection drops everything remembered (changes may be missed until it is back) and
 * `current()` is false until a new connection has proved itself: validation reads the database
 * meanwhile, never an answer that could be stale.
 */
export class PostgresWriteListener {
  #client: pg.Client | undefined;
  #schema: string | undefined;
  #closed = false;
  #connected = false;
  /** The proof in flight: its payload and when it was sent. */
  #pending: { payload: string; sentAt: number } | undefined;
  #provenAt = Number.NEGATIVE_INFINITY;
  #sequence = 0;
  readonly #timer: NodeJS.Timeout;
  #reconnect: NodeJS.Timeout | undefined;

  constructor(
    private readonly clientConfig: pg.ClientConfig,
    private readonly feed: WriteFeed,
  ) {
    this.#timer = setInterval(() => this.#prove(), PROOF_INTERVAL_MS);
    this.#timer.unref();
    void this.#connect();
  }

  /** Whether what was remembered may be used: connected, and proven within the window. */
  current(): boolean {
    return this.#connected && performance.now() - this.#provenAt <= FEED_WINDOW_MS;
  }

  /** The listening connection's backend process id (tests end it with pg_terminate_backend). */
  get backendPid(): number | undefined {
    return this.#connected ? (this.#client as unknown as { processID?: number })?.processID : undefined;
  }

  /** Resolves once the listener is current (tests wait for it). */
  async ready(): Promise<void> {
    while (!this.current()) {
      if (this.#closed) throw new Error('the write listener is closed');
      this.#prove();
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  }

  async close(): Promise<void> {
    this.#closed = true;
    clearInterval(this.#timer);
    if (this.#reconnect) clearTimeout(this.#reconnect);
    const client = this.#client;
    this.#client = undefined;
    this.#connected = false;
    await client?.end().catch(() => undefined);
  }

  async #connect(): Promise<void> {
    if (this.#closed) return;
    const client = new pg.Client(this.clientConfig);
    this.#client = client;
    client.on('error', () => this.#lost(client));
    client.on('end', () => this.#lost(client));
    client.on('notification', (message) => this.#received(message.payload ?? ''));
    try {
      await client.connect();
      const { rows } = await client.query<{ schema: string }>('select current_schema() as schema');
      this.#schema = rows[0]?.schema;
      await client.query(`listen ${WRITES_CHANNEL}`);
      if (this.#client !== client) return;
      // Changes made while no one listened were missed: forget everything before using the feed.
      this.feed.announce([{ kind: 'unknown' }]);
      this.#connected = true;
      this.#pending = undefined;
      this.#prove();
    } catch {
      this.#lost(client);
    }
  }

  #lost(client: pg.Client): void {
    if (this.#client !== client) return;
    this.#client = undefined;
    this.#connected = false;
    this.#pending = undefined;
    this.#provenAt = Number.NEGATIVE_INFINITY;
    this.feed.announce([{ kind: 'unknown' }]);
    client.end().catch(() => undefined);
    if (!this.#closed) {
      this.#reconnect = setTimeout(() => void this.#connect(), RECONNECT_DELAY_MS);
      this.#reconnect.unref();
    }
  }

  #prove(): void {
    const client = this.#client;
    if (!this.#connected || !client) return;
    if (this.#pending) {
      // A proof that never comes back: a connection that no longer delivers. Start afresh.
      if (performance.now() - this.#pending.sentAt > STALLED_MS) this.#lost(client);
      return;
    }
    const payload = `${this.#schema} proof ${++this.#sequence}`;
    this.#pending = { payload, sentAt: performance.now() };
    client.query('select pg_notify($1, $2)', [WRITES_CHANNEL, payload]).catch(() => this.#lost(client));
  }

  #received(payload: string): void {
    const [schema, table, key] = payload.split(' ');
    if (schema !== this.#schema || table === undefined || key === undefined) return;
    if (table === 'proof') {
      if (this.#pending?.payload === payload) {
        this.#provenAt = this.#pending.sentAt;
        this.#pending = undefined;
      }
      return;
    }
    const column = table === 'tokens' ? 'hash' : 'id';
    const write: Write = { kind: 'rows', table, keys: new Map([[column, [key]]]) };
    this.feed.announce([write]);
  }
}

/**
 * A driver that announces to `feed` when a transaction opens and when it has ended (committed or
 * rolled back), so the validation cache remembers nothing read while one is open (write-feed.ts).
 */
export function announcingTransactions(driver: Driver, feed: WriteFeed): Driver {
  const open = (): void => feed.announce([{ kind: 'transaction', open: true }]);
  const ended = (): void => feed.announce([{ kind: 'transaction', open: false }]);
  return new Proxy(driver, {
    get(target, property, receiver) {
      const value = Reflect.get(target, property, receiver);
      if (typeof value !== 'function') return value;
      if (property === 'beginTransaction')
        return async (...args: unknown[]) => {
          open();
          try {
            await value.apply(target, args);
          } catch (error) {
            ended();
            throw error;
          }
        };
      if (property === 'commitTransaction' || property === 'rollbackTransaction')
        return async (...args: unknown[]) => {
          try {
            await value.apply(target, args);
          } finally {
            ended();
          }
        };
      return value.bind(target);
    },
  });
}
