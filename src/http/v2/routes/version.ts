import { Type } from 'typebox';
import { baseUrlOf, VersionSchema, versionDocument } from '../../discovery.js';
import { described, operation, Tags } from '../../openapi.js';
import type { HttpServer } from '../../server-instance.js';

/** The v2.0 version document, where version discovery (`GET /`) points clients. */
export function registerVersionRoute(app: HttpServer): void {
  app.get(
    '/v2.0',
    {
      schema: operation({
        summary: 'The v2.0 version document',
        tag: Tags.tokens,
        auth: 'none',
        responses: { 200: described(Type.Object({ version: VersionSchema }), 'Identity v2.0.') },
      }),
    },
    async (request) => ({ version: versionDocument(baseUrlOf(request), 'v2.0') }),
  );
}
