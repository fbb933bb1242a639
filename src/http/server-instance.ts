import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { FastifyBaseLogger, FastifyInstance } from 'fastify';

/** The Fastify instance every surface registers on: plain HTTP, pino, TypeBox schemas. */
export type HttpServer = FastifyInstance<
  Server,
  IncomingMessage,
  ServerResponse,
  FastifyBaseLogger,
  TypeBoxTypeProvider
>;

/** Path patterns of one surface and the methods each answers. */
export class KnownPaths {
  private readonly entries: { pattern: RegExp; methods: Set<string> }[] = [];

  add(url: string, method: string | string[]): void {
    const source = url
      .replaceAll('::', '%LITERAL_COLON%')
      .split('/')
      .map((part) => (part.startsWith(':') ? '[^/]+' : part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')))
      .join('/')
      .replaceAll('%LITERAL_COLON%', ':');
    const pattern = new RegExp(`^${source}/?$`);
    const methods = Array.isArray(method) ? method : [method];
    const entry = this.entries.find((known) => known.pattern.source === pattern.source);
    if (entry) for (const name of methods) entry.methods.add(name);
    else this.entries.push({ pattern, methods: new Set(methods) });
  }

  /** The methods a path answers, or undefined when no route has that path. */
  methodsFor(path: string): string[] | undefined {
    const entry = this.entries.find((known) => known.pattern.test(path));
    return entry ? [...entry.methods] : undefined;
  }
}
