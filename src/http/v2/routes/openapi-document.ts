import { Type } from 'typebox';
import { operation, Tags } from '../../openapi.js';
import type { HttpServer } from '../../server-instance.js';

/** GET /openapi.json: the document of the APIs, generated from the routes as they are served. */
export function registerOpenApiRoute(app: HttpServer): void {
  let text: string | undefined;
  app.get(
    '/openapi.json',
    {
      schema: operation({
        summary: 'The OpenAPI 3.1 document of this API',
        tag: Tags.operations,
        extension: true,
        auth: 'none',
        responses: {
          200: Type.Object(
            { openapi: Type.Literal('3.1.0') },
            { additionalProperties: true, description: 'This document.' },
          ),
        },
      }),
    },
    // Rendered once: the document is some 300 KB, and anyone may ask for it.
    async (_request, reply) => {
      text ??= JSON.stringify(app.swagger());
      return reply.type('application/json; charset=utf-8').send(text);
    },
  );
}
