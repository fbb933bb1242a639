import type { TokenRow, UserRow } from '../store/schema.js';
import type { Write } from '../store/write-feed.js';

export interface RememberedValidation {
  token: TokenRow;
  user: UserRow;
}

/**
 * Live tokens recently validated, with their user, by token id, for a store that
 * announces every write (store/write-feed.ts: the embedded store's own; on PostgreSQL this
 * process's and, by notification, every instance's committed ones). An entry goes when a write
 * may have changed what it holds or what validation decides from it:
 * - a `tokens` row: by its hash, or every token of a user when the write names the user;
 * - a `users` row (disable, delete, role, password, API key, MFA, user-level policy): that
 *   user's tokens;
 * - a `domains` row (account policy): the tokens of its users;
 * - anything the write does not name precisely, or an `unknown` write: everything.
 * Inserts change no existing row, so they leave every entry alone, and writes to any other
 * table (events, MFA sessions, one-time codes, devices, SMS records) cannot change the token
 * row or the user row an entry holds. In this schema no trigger changes rows (PostgreSQL's only
 * announce changes) and the one cascade into these tables (deleting a user deletes its tokens)
 * starts from a `users` write, which already drops that user's tokens
 * (test/validation-after-writes.test.ts checks both).
 *
 * While a transaction of this process is open (PostgreSQL, where other connections read
 * meanwhile) nothing read is remembered: its writes are announced as they run, but readers see
 * them only at commit.
 */
export class ValidationCache<Entry extends RememberedValidation = RememberedValidation> {
  readonly #entries = new Map<string, Entry>();
  readonly #byUser = new Map<string, Set<string>>();
  readonly #byDomain = new Map<string, Set<string>>();
  readonly #byTokenHash = new Map<string, string>();
  /** Moves on every write that may change an entry, remembered or not. */
  #generation = 0;
  /** Transactions of this process open now (PostgreSQL): nothing read meanwhile is remembered. */
  #openTransactions = 0;

  constructor(private readonly capacity: number) {}

  get size(): number {
    return this.#entries.size;
  }

  get(tokenId: string): Entry | undefined {
    return this.#entries.get(tokenId);
  }

  /** Taken before reading the store; `remember` refuses an answer read across a write. */
  ticket(): number {
    return this.#generation;
  }

  /** False, and nothing kept, when a write that may change any entry was announced since `ticket`. */
  remember(ticket: number, tokenId: string, entry: Entry): boolean {
    if (ticket !== this.#generation || this.#openTransactions > 0) return false;
    if (!this.#entries.has(tokenId) && this.#entries.size >= this.capacity) {
      const oldest = this.#entries.keys().next();
      if (!oldest.done) this.forget(oldest.value);
    }
    this.forget(tokenId);
    this.#entries.set(tokenId, entry);
    addTo(this.#byUser, entry.user.id, tokenId);
    if (entry.user.domain_id !== null) addTo(this.#byDomain, entry.user.domain_id, tokenId);
    this.#byTokenHash.set(entry.token.hash, tokenId);
    return true;
  }

  forget(tokenId: string): void {
    const entry = this.#entries.get(tokenId);
    if (!entry) return;
    this.#entries.delete(tokenId);
    removeFrom(this.#byUser, entry.user.id, tokenId);
    if (entry.user.domain_id !== null) removeFrom(this.#byDomain, entry.user.domain_id, tokenId);
    this.#byTokenHash.delete(entry.token.hash);
  }

  clear(): void {
    this.#entries.clear();
    this.#byUser.clear();
    this.#byDomain.clear();
    this.#byTokenHash.clear();
  }

  apply(write: Write): void {
    if (write.kind === 'insert') return;
    if (write.kind === 'transaction') {
      this.#generation++;
      this.#openTransactions = Math.max(0, this.#openTransactions + (write.open ? 1 : -1));
      return;
    }
    if (write.kind === 'unknown') {
      this.#generation++;
      this.clear();
      return;
    }
    const { table, keys } = write;
    switch (table) {
      case 'tokens': {
        this.#generation++;
        const hashes = keys?.get('hash');
        const users = keys?.get('user_id');
        if (hashes) for (const hash of hashes) this.#forgetTokenHash(hash);
        else if (users) for (const user of users) this.#forgetAll(this.#byUser, user);
        else this.clear();
        return;
      }
      case 'users': {
        this.#generation++;
        const ids = keys?.get('id');
        if (ids) for (const id of ids) this.#forgetAll(this.#byUser, id);
        else this.clear();
        return;
      }
      case 'domains': {
        this.#generation++;
        const ids = keys?.get('id');
        if (ids) for (const id of ids) this.#forgetAll(this.#byDomain, id);
        else this.clear();
        return;
      }
      default:
        return;
    }
  }

  #forgetTokenHash(hash: unknown): void {
    if (typeof hash !== 'string') {
      this.clear();
      return;
    }
    const tokenId = this.#byTokenHash.get(hash);
    if (tokenId !== undefined) this.forget(tokenId);
  }

  #forgetAll(index: Map<string, Set<string>>, key: unknown): void {
    // A key of another type cannot name a remembered row; stay on the safe side all the same.
    if (typeof key !== 'string') {
      this.clear();
      return;
    }
    const tokenIds = index.get(key);
    if (!tokenIds) return;
    for (const tokenId of [...tokenIds]) this.forget(tokenId);
  }
}

function addTo(index: Map<string, Set<string>>, key: string, tokenId: string): void {
  let tokenIds = index.get(key);
  if (!tokenIds) {
    tokenIds = new Set();
    index.set(key, tokenIds);
  }
  tokenIds.add(tokenId);
}

function removeFrom(index: Map<string, Set<string>>, key: string, tokenId: string): void {
  const tokenIds = index.get(key);
  if (!tokenIds) return;
  tokenIds.delete(tokenId);
  if (tokenIds.size === 0) index.delete(key);
}
