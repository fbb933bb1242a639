import type { Deps } from '../services/deps.js';

/** What both API versions render alike: timestamps and the service catalog. */

export const iso = (epochMs: number): string => new Date(epochMs).toISOString();

/** Tenants whose filled-in catalog is kept; past this many the kept ones are dropped and refilled. */
const KEPT_TENANTS = 1_000;

/** Filled-in catalogs by template (the configured one) and tenant: the same every time. */
const filledCatalogs = new WeakMap<readonly unknown[], Map<string, unknown[]>>();

/**
 * Fill {tenantId} placeholders in the configured catalog template. Every login renders its
 * tenant's catalog, and the answer only depends on the tenant: it is filled once and kept, frozen,
 * since every response that carries it shares it.
 */
export function renderCatalog(deps: Deps, tenantId: string | null): unknown[] {
  if (tenantId === null || deps.catalog.length === 0) return [];
  let byTenant = filledCatalogs.get(deps.catalog);
  if (!byTenant) {
    byTenant = new Map();
    filledCatalogs.set(deps.catalog, byTenant);
  }
  const kept = byTenant.get(tenantId);
  if (kept) return kept;
  const fill = (value: unknown): unknown => {
    if (typeof value === 'string') return value.replaceAll('{tenantId}', tenantId);
    if (Array.isArray(value)) return Object.freeze(value.map(fill));
    if (value && typeof value === 'object') {
      return Object.freeze(
        Object.fromEntries(Object.entries(value).map(([key, inner]) => [key, fill(inner)])),
      );
    }
    return value;
  };
  const filled = fill(deps.catalog) as unknown[];
  if (byTenant.size >= KEPT_TENANTS) byTenant.clear();
  byTenant.set(tenantId, filled);
  return filled;
}
