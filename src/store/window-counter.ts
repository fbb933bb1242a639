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

/** A guarded upsert: the DO UPDATE's WHERE refuses the increment once the limit is reached. */
export function sqlWindowCounter(db: Db): WindowCounter {
  return {
    async take(key, windowStart, _windowMs, limit) {
      const row = await db
        .insertInto('source_failures')
        .values({ source: key, window_start: windowStart, count: 1 })
        .onConflict((conflict) =>
          conflict
            .columns(['source', 'window_start'])
            .doUpdateSet({ count: sql<number>`source_failures.count + 1` })
            .where('source_failures.count', '<', limit),
        )
        .returning('count')
        .executeTakeFirst();
      return row?.count;
    },
    async giveBack(key, windowStart) {
      await db
        .updateTable('source_failures')
        .set({ count: sql<number>`count - 1` })
        .where('source', '=', key)
        .where('window_start', '=', windowStart)
        .where('count', '>', 0)
        .execute();
    },
    async prune(before) {
      await db.deleteFrom('source_failures').where('window_start', '<', before).execute();
    },
    close: async () => {},
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
