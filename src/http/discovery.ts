import type { FastifyRequest } from 'fastify';
import { Type } from 'typebox';

/** When this API's documents last changed, as version discovery reports it. */
const VERSIONS_UPDATED = '2026-11-22T00:00:00Z';

export const VersionSchema = Type.Object({
  id: Type.String({ description: 'v3.0 or v2.0' }),
  status: Type.String(),
  updated: Type.String(),
  links: Type.Array(Type.Object({ rel: Type.String(), href: Type.String() })),
  'media-types': Type.Array(Type.Object({ base: Type.String(), type: Type.String() })),
});

/** The public base URL: LATCHKEY_PUBLIC_URL, else as the client reached it (app.ts). */
export function baseUrlOf(request: FastifyRequest): string {
  return request.publicOrigin;
}

/** Version documents for discovery (Keystone's `keystone/api/discovery.py` shape). */
export function versionDocument(base: string, version: 'v3' | 'v2.0') {
  return {
    id: version === 'v3' ? 'v3.0' : 'v2.0',
    status: 'stable',
    updated: VERSIONS_UPDATED,
    links: [{ rel: 'self', href: `${base}/${version}/` }],
    'media-types': [{ base: 'application/json', type: `application/vnd.openstack.identity-${version}+json` }],
  };
}
