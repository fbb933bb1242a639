/** Where batches go: pino's destination (sonic-boom), written synchronously. */
export interface LineTarget {
  write(chunk: string): unknown;
  flushSync(): void;
}

export interface BatchedLines {
  write(line: string): void;
  /** Writes what waits, then calls back (pino's `logger.flush`). */
  flush(callback?: (error?: Error) => void): void;
  /** Writes what waits, at once. */
  flushSync(): void;
}

export interface BatchOptions {
  /** A batch is written once it holds this many characters. */
  characters: number;
  /** And at the latest this long after its first line. */
  maxDelayMs: number;
}

/**
 * Log lines gathered into batches before they reach the destination: one write(2) per line cost
 * a busy server about a fifth of each token validation. The batching is ours, not the
 * destination's own (sonic-boom's minLength), because that one measured what it held on every
 * line it took, which cost more than the line itself. Every line of the process, the access
 * line as much as pino's own, goes through the same batch, so they keep their order.
 *
 * A batch waits at most `maxDelayMs`; what waits is written when the process exits, even on an
 * uncaught error, and lost only to SIGKILL or a crash of Node itself. A batch is bounded by
 * `characters` plus one line; a reader that stops reading is the destination's to bound.
 */
export function batchedLines(target: LineTarget, options: BatchOptions): BatchedLines {
  let pending: string[] = [];
  let size = 0;
  let timer: NodeJS.Timeout | undefined;
  const writePending = () => {
    if (timer !== undefined) {
      clearTimeout(timer);
      timer = undefined;
    }
    if (pending.length === 0) return;
    const batch = pending.length === 1 ? (pending[0] ?? '') : pending.join('');
    pending = [];
    size = 0;
    target.write(batch);
  };
  const flushSync = () => {
    writePending();
    target.flushSync();
  };
  process.prependListener('exit', flushSync);
  return {
    write(line) {
      pending.push(line);
      size += line.length;
      if (size >= options.characters) writePending();
      else if (timer === undefined) timer = setTimeout(writePending, options.maxDelayMs).unref();
    },
    flush(callback) {
      try {
        flushSync();
      } catch (error) {
        callback?.(error as Error);
        return;
      }
      callback?.();
    },
    flushSync,
  };
}
