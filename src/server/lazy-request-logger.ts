import type { FastifyBaseLogger } from 'fastify';
import type { Bindings, ChildLoggerOptions, LevelWithSilentOrString, LogFn } from 'pino';

/**
 * `request.log`, made only when a request logs through it. Fastify builds a pino child for
 * every request (its bindings serialised and its redaction set up each time), which a token
 * validation paid on every call though it logs only through the access line (app.ts). Lines
 * written through it are the child's, with the same request id.
 */
class LazyRequestLogger implements FastifyBaseLogger {
  #child: FastifyBaseLogger | undefined;

  constructor(
    private readonly parent: FastifyBaseLogger,
    private readonly bindings: Bindings,
    private readonly options: ChildLoggerOptions,
  ) {}

  get #logger(): FastifyBaseLogger {
    this.#child ??= this.parent.child(this.bindings, this.options);
    return this.#child;
  }

  get level(): LevelWithSilentOrString {
    return this.#child?.level ?? this.options.level ?? this.parent.level;
  }

  set level(level: LevelWithSilentOrString) {
    this.#logger.level = level;
  }

  readonly fatal = this.#forward('fatal');
  readonly error = this.#forward('error');
  readonly warn = this.#forward('warn');
  readonly info = this.#forward('info');
  readonly debug = this.#forward('debug');
  readonly trace = this.#forward('trace');
  readonly silent = this.#forward('silent');

  child(bindings: Bindings, options?: ChildLoggerOptions): FastifyBaseLogger {
    return this.#logger.child(bindings, options);
  }

  #forward(level: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent'): LogFn {
    return ((...args: unknown[]) => (this.#logger[level] as (...line: unknown[]) => void)(...args)) as LogFn;
  }
}

export function lazyRequestLogger(
  parent: FastifyBaseLogger,
  bindings: Bindings,
  options: ChildLoggerOptions,
): FastifyBaseLogger {
  return new LazyRequestLogger(parent, bindings, options);
}
