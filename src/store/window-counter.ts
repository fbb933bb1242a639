import { Redis } from 'ioredis';
import { sql } from 'kysely';
import type { Db } from './schema.js';

/**
 * Counts in fixed time windows, shared by every instance: in the database by default, in Redis
 * when LATCHKEY_REDIS_URL is set. Both take a slot in one atomic step that also checks the limit,
 * so concurrent requests on any number of instances can never take more than `limit` slots.
 */
export interface WindowCounter {
  /** One more in `key`'s window unless it already holds `limit`: the new count, or undefined. */
  take(key: string, windowStart: number, windowMs: number, limit: number): Promise<number | undefined>;
  /** Give one back (the attempt it stood for turned out not to count). */
  giveBack(key: string, windowStart: number): Promise<void>;
  /** Forget windows that ended before `before` (Redis expires them by itself). */
  prune(before: number): Promise<void>;
  close(): Promise<void>;
}

/** How long a slot given back may wait for the next take of its window before it is written alone. */
export const GIVE_BACK_DELAY_MS = 1_000;

/**
 * A guarded upsert: the DO UPDATE's WHERE refuses the increment once the limit is reached.
 *
 * A slot given back (an authentication that succeeded) costs no statement of its own when it can
 * be helped: it is owed in memory and folded into the next take of the same window, which adds
 * one and takes off what is owed in one statement, or written alone after GIVE_BACK_DELAY_MS when
 * no take comes, and at close. Until then the stored count is higher than the truth by what this
 * process owes, never lower: another instance may see a source a little nearer its limit for a
 * moment, and no failure ever goes uncounted. A lost process loses only its debts (a count too
 * high until its window ends), as a give-back that failed always did.
 */
export function sqlWindowCounter(db: Db, giveBackDelayMs = GIVE_BACK_DELAY_MS): WindowCounter {
  /** Slots given back and not yet written, by window and key. */
  const owed = new Map<string, { key: string; windowStart: number; slots: number }>();
  const idOf = (key: string, windowStart: number) => `${windowStart}\u0000${key}`;
  const owe = (key: string, windowStart: number, slots: number) => {
    if (slots === 0) return;
    const id = idOf(key, windowStart);
    const debt = owed.get(id);
    if (debt) debt.slots += slots;
    else owed.set(id, { key, windowStart, slots });
  };
  /** The count less `slots` given back, never below zero (a window pruned and begun again). */
  const lessOwed = (slots: number) =>
    sql<number>`(case when source_failures.count > ${slots} then source_failures.count - ${slots} else 0 end)`;
  let timer: NodeJS.Timeout | undefined;
  let flushing: Promise<void> = Promise.resolve();
  let closed = false;
  const later = () => {
    if (timer || closed || owed.size === 0) return;
    timer = setTimeout(() => void flush(), giveBackDelayMs);
    timer.unref();
  };

  const writeOwed = async (): Promise<void> => {
    const debts = [...owed.values()];
    owed.clear();
    for (const debt of debts) {
      try {
        await db
          .updateTable('source_failures')
          .set({ count: lessOwed(debt.slots) })
          .where('source', '=', debt.key)
          .where('window_start', '=', debt.windowStart)
          .execute();
      } catch {
        // Unwritten, it stays owed (the count too high, never too low) for the next take of its
        // window, the next give-back's write or the close: no retry of its own against a store
        // that may be gone.
        owe(debt.key, debt.windowStart, debt.slots);
      }
    }
  };
  const flush = (): Promise<void> => {
    if (timer) clearTimeout(timer);
    timer = undefined;
    flushing = flushing.then(writeOwed);
    return flushing;
  };

  return {
    async take(key, windowStart, _windowMs, limit) {
      // What this process owes the window is taken off in the same statement, so the limit is
      // judged on the true count. Claimed before the await: a concurrent take cannot claim it too.
      const id = idOf(key, windowStart);
      const slots = owed.get(id)?.slots ?? 0;
      owed.delete(id);
      let row: { count: number } | undefined;
      try {
        row = await db
          .insertInto('source_failures')
          .values({ source: key, window_start: windowStart, count: 1 })
          .onConflict((conflict) =>
            conflict
              .columns(['source', 'window_start'])
              .doUpdateSet({ count: sql<number>`${lessOwed(slots)} + 1` })
              .where(lessOwed(slots), '<', limit),
          )
          .returning('count')
          .executeTakeFirst();
      } catch (error) {
        owe(key, windowStart, slots);
        throw error;
      }
      // Refused: nothing was written, so the debt is still owed.
      if (row === undefined) owe(key, windowStart, slots);
      return row?.count;
    },
    async giveBack(key, windowStart) {
      owe(key, windowStart, 1);
      later();
    },
    async prune(before) {
      for (const [id, debt] of owed) if (debt.windowStart < before) owed.delete(id);
      await db.deleteFrom('source_failures').where('window_start', '<', before).execute();
    },
    async close() {
      closed = true;
      await flush();
    },
  };
}

// One script per operation: Redis runs a script alone, so the check and the increment are one step.
const TAKE = `
local current = tonumber(redis.call('GET', KEYS[1]) or '0')
if current >= tonumber(ARGV[1]) then return -1 end
current = redis.call('INCR', KEYS[1])
if current == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return current`;
const GIVE_BACK = `
if tonumber(redis.call('GET', KEYS[1]) or '0') > 0 then return redis.call('DECR', KEYS[1]) end
return 0`;

export function redisWindowCounter(url: string, keyPrefix = 'latchkey:'): WindowCounter {
  // Fail fast rather than queue logins behind a lost connection; the caller answers 503.
  const redis = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 1, connectTimeout: 2000 });
  // Connection errors reach the caller through the command that failed (and are logged there);
  // without a listener ioredis would also print each one to stderr.
  redis.on('error', () => {});
  const keyOf = (key: string, windowStart: number) => `${keyPrefix}window:${key}:${windowStart}`;
  return {
    async take(key, windowStart, windowMs, limit) {
      // Kept for two windows: the windows follow the application's clock, not Redis's.
      const result = await redis.eval(TAKE, 1, keyOf(key, windowStart), limit, 2 * windowMs);
      const count = Number(result);
      return count < 0 ? undefined : count;
    },
    async giveBack(key, windowStart) {
      await redis.eval(GIVE_BACK, 1, keyOf(key, windowStart));
    },
    prune: async () => {},
    async close() {
      if (redis.status === 'wait' || redis.status === 'end') redis.disconnect();
      else await redis.quit();
    },
  };
}
