import type { Deps } from '../services/deps.js';

/** What both API versions render alike: timestamps and the service catalog. */

export const iso = (epochMs: number): string => new Date(epochMs).toISOString();

/** Fill {tenantId} placeholders in the configured catalog template. */
export function renderCatalog(deps: Deps, tenantId: string | null): unknown[] {
  if (tenantId === null) return [];
  const fill = (value: unknown): unknown => {
    if (typeof value === 'string') return value.replaceAll('{tenantId}', tenantId);
    if (Array.isArray(value)) return value.map(fill);
    if (value && typeof value === 'object') {
      return Object.fromEntries(Object.entries(value).map(([key, inner]) => [key, fill(inner)]));
    }
    return value;
  };
  return deps.catalog.map(fill) as unknown[];
}
