import type { CompiledQuery } from 'kysely';
import type { Clock } from '../core/clock.js';
import type { Db } from '../store/schema.js';

function liveTokenQuery(db: Db, hashes: string[], now: number) {
  // One round trip: the tokens and their users together.
  return db
    .selectFrom('tokens')
    .innerJoin('users', 'users.id', 'tokens.user_id')
    .selectAll('users')
    .select([
      'tokens.hash as token_hash',
      'tokens.created_at as token_created_at',
      'tokens.expires_at as token_expires_at',
      'tokens.authenticated_by as token_authenticated_by',
      'tokens.scope as token_scope',
    ])
    .where('tokens.hash', 'in', hashes)
    .where('tokens.revoked_at', 'is', null)
    .where('tokens.expires_at', '>', now);
}

export type LiveTokenRow = NonNullable<
  Awaited<ReturnType<ReturnType<typeof liveTokenQuery>['executeTakeFirst']>>
>;

/** Tokens looked up in one query at most; far below either database's parameter limit. */
const MAX_TOKENS_PER_QUERY = 64;
/** Lookup queries running at once; more wait in the queue and go together in the next one. */
const MAX_QUERIES_IN_FLIGHT = 2;

interface Lookup {
  candidates: string[];
  resolve(row: LiveTokenRow | undefined): void;
  reject(error: unknown): void;
}

/**
 * Live tokens by the keyed hashes of their ids. The hottest path in the service, so:
 * - its query is compiled once per number of hashes and run again with fresh parameters
 *   (hashes, then now), compiled through Kysely so its plugins know it (for the embedded store's
 *   write feed, a read);
 * - lookups that arrive while queries are running wait and then share one query. A lookup only
 *   ever joins a query that starts after it arrived, never one already running, so each answer
 *   still comes from a read of the database made after the request came in: a revocation
 *   committed before it is always seen.
 */
export class LiveTokenLookup {
  readonly #compiled = new Map<number, CompiledQuery<LiveTokenRow>>();
  #queue: Lookup[] = [];
  #running = 0;

  constructor(
    private readonly db: Db,
    private readonly clock: Clock,
  ) {}

  find(candidates: string[]): Promise<LiveTokenRow | undefined> {
    return new Promise((resolve, reject) => {
      this.#queue.push({ candidates, resolve, reject });
      this.#next();
    });
  }

  #next(): void {
    while (this.#running < MAX_QUERIES_IN_FLIGHT && this.#queue.length > 0) {
      const batch = this.#queue.splice(0, MAX_TOKENS_PER_QUERY);
      this.#running++;
      void this.#run(batch).finally(() => {
        this.#running--;
        this.#next();
      });
    }
  }

  async #run(batch: Lookup[]): Promise<void> {
    try {
      const hashes = [...new Set(batch.flatMap((lookup) => lookup.candidates))];
      // Now is read as the query leaves: an expiry in between counts, as it should.
      const rows = await this.#query(hashes, this.clock.now());
      const byHash = new Map(rows.map((row) => [row.token_hash, row]));
      for (const lookup of batch) {
        const hash = lookup.candidates.find((candidate) => byHash.has(candidate));
        lookup.resolve(hash === undefined ? undefined : byHash.get(hash));
      }
    } catch (error) {
      for (const lookup of batch) lookup.reject(error);
    }
  }

  async #query(hashes: string[], now: number): Promise<LiveTokenRow[]> {
    let compiled = this.#compiled.get(hashes.length);
    if (compiled === undefined) {
      compiled = liveTokenQuery(this.db, hashes, now).compile();
      if (compiled.parameters.length !== hashes.length + 1) throw new Error('unexpected live token query');
      this.#compiled.set(hashes.length, compiled);
    }
    const result = await this.db.executeQuery<LiveTokenRow>({ ...compiled, parameters: [...hashes, now] });
    return result.rows;
  }
}
