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
 * together; here it is one template string. The route (a pattern of our own routes) and the
 * method (one llhttp accepted) are quoted once each and remembered; the request id each time.
 * Lines reach standard output in batches (batched-lines.ts), in order with pino's own.
 */
export type AccessLog = (line: AccessLine) => void;

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
  return (line) => {
    if (!log.isLevelEnabled('info')) return;
    stream.write(
      `${level}${time()}${bindings},"reqId":${JSON.stringify(line.reqId)},"method":${quote(line.method)},"route":${quote(line.route)},"status":${line.status},"ms":${line.ms},"msg":"request"}\n`,
    );
  };
}
