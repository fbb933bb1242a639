import { availableParallelism } from 'node:os';
import { type Algorithm, hash, parseOptions, type Version, verify } from '@node-rs/argon2';
import { randomHex } from './random.js';

// The package's const enums exist only as types under verbatimModuleSyntax: their values here.
const ARGON2ID: Algorithm = 2;
const VERSION_0X13: Version = 1;

export interface PasswordHasherOptions {
  memoryKib: number;
  iterations: number;
  /** Hashes handed to libuv's thread pool at once; the others wait here. Default: CPUs + 1. */
  concurrency?: number;
}

/**
 * argon2id is pure CPU work: many more hashes at once than there are cores finish no sooner, but
 * each holds its memory (19 MiB at OWASP parameters) and a libuv thread that file system and DNS
 * work would otherwise get. One more than the cores keeps a hash queued in the pool: when one
 * finishes, its thread starts the next at once, instead of leaving the core idle until the event
 * loop (busy with other requests' statements) gets round to handing it over.
 */
class ConcurrencyLimit {
  #running = 0;
  readonly #waiting: (() => void)[] = [];

  constructor(private readonly max: number) {}

  async run<T>(task: () => Promise<T>): Promise<T> {
    if (this.#running < this.max) this.#running++;
    else await new Promise<void>((resolve) => this.#waiting.push(resolve));
    try {
      return await task();
    } finally {
      // Hand the slot straight to the next in line, or give it back.
      const next = this.#waiting.shift();
      if (next) next();
      else this.#running--;
    }
  }
}

/**
 * argon2id (OWASP: m=19 MiB, t=2, p=1) with @node-rs/argon2, which verifies the same PHC strings
 * about twice as fast as the `argon2` package on this kind of machine (docs/benchmarks.md). It
 * hashes on libuv's thread pool, off the event loop, at most one hash more than there are CPUs at
 * a time. `verifyOrDummy` spends the same work when the user does not exist, so a login for an
 * unknown user takes about as long as a wrong password.
 */
export class PasswordHasher {
  private dummyHash: Promise<string> | undefined;
  private readonly limit: ConcurrencyLimit;

  constructor(private readonly options: PasswordHasherOptions) {
    this.limit = new ConcurrencyLimit(options.concurrency ?? availableParallelism() + 1);
  }

  hash(password: string): Promise<string> {
    return this.limit.run(() =>
      hash(password, {
        algorithm: ARGON2ID,
        version: VERSION_0X13,
        memoryCost: this.options.memoryKib,
        timeCost: this.options.iterations,
        parallelism: 1,
      }),
    );
  }

  async verify(hash: string, password: string): Promise<boolean> {
    try {
      return await this.limit.run(() => verify(hash, password));
    } catch {
      return false;
    }
  }

  async verifyOrDummy(hash: string | null | undefined, password: string): Promise<boolean> {
    if (hash) return this.verify(hash, password);
    this.dummyHash ??= this.hash(randomHex());
    await this.verify(await this.dummyHash, password);
    return false;
  }

  /** True when a stored hash was made with other parameters (or another algorithm) than ours. */
  needsRehash(hash: string): boolean {
    let stored: ReturnType<typeof parseOptions>;
    try {
      stored = parseOptions(hash);
    } catch {
      return true;
    }
    return (
      stored.algorithm !== ARGON2ID ||
      stored.version !== VERSION_0X13 ||
      stored.memoryCost !== this.options.memoryKib ||
      stored.timeCost !== this.options.iterations ||
      stored.parallelism !== 1
    );
  }
}
