import pino, { type Logger } from 'pino';

export interface AccessLine {
  reqId: string;
  method: string;
  /** The route pattern, never the URL: a URL can carry a token id. */
  route: string;
  status: number;
  ms: number;
}

type PinoInternals = Record<symbol, unknown>;

/**
 * The access log: one line per answered request, the very line `log.info(fields, 'request')`
 * writes (test/access-log.test.ts holds them equal), written to the logger's destination
 * directly. Formatting it with pino cost about as much as the rest of a cached token validation
 * together; here it is one template string, and the lines of one turn are written together. The route (a pattern of our own routes) and the
 * method (one llhttp accepted) are quoted once each and remembered; the request id each time.
 */
export interface AccessLog {
  write(line: AccessLine): void;
  /** Writes what waits and stops watching the process's exit (the app closes). */
  close(): void;
}

export function accessLogWriter(log: Logger): AccessLog {
  const internals = log as unknown as PinoInternals;
  const stream = internals[pino.symbols.streamSym] as { write(line: string): unknown };
  const time = internals[pino.symbols.timeSym] as () => string;
  const bindings = internals[pino.symbols.chindingsSym] as string;
  const quoted = new Map<string, string>();
  const level = `{"level":${log.levels.values.info}`;
  const quote = (value: string): string => {
    let json = quoted.get(value);
    if (json === undefined) {
      json = JSON.stringify(value);
      if (quoted.size < 1000) quoted.set(value, json);
    }
    return json;
  };
  // The lines of one turn of the event loop go to the destination in one write: the batching
  // destination (main.ts) measures what it holds on every write, which cost more per line than
  // the line itself. Lines still waiting when the process exits are written before pino's own
  // exit flush, which runs after this listener.
  let pending: string[] = [];
  let scheduled = false;
  const flush = () => {
    scheduled = false;
    if (pending.length === 0) return;
    const lines = pending;
    pending = [];
    stream.write(lines.join(''));
  };
  process.prependListener('exit', flush);
  const write = (line: AccessLine) => {
    if (!log.isLevelEnabled('info')) return;
    pending.push(
      `${level}${time()}${bindings},"reqId":${JSON.stringify(line.reqId)},"method":${quote(line.method)},"route":${quote(line.route)},"status":${line.status},"ms":${line.ms},"msg":"request"}\n`,
    );
    if (!scheduled) {
      scheduled = true;
      setImmediate(flush);
    }
  };
  return {
    write,
    close() {
      flush();
      process.removeListener('exit', flush);
    },
  };
}
