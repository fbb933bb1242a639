import type {
  KyselyPlugin,
  PluginTransformQueryArgs,
  PluginTransformResultArgs,
  QueryResult,
  RootOperationNode,
  SelectModifier,
  UnknownRow,
} from 'kysely';

/**
 * What differs between SQLite and PostgreSQL, kept here so that no code outside the store asks
 * which of the two it runs on: domain code writes its queries once, for both.
 */

/** Row locks (`forUpdate()`, `forShare()`, their `nowait`/`skip locked`), which only PostgreSQL has. */
const ROW_LOCKS: ReadonlySet<SelectModifier> = new Set([
  'ForUpdate',
  'ForNoKeyUpdate',
  'ForShare',
  'ForKeyShare',
  'NoWait',
  'SkipLocked',
]);

/**
 * Domain code locks the rows a transaction decides on with Kysely's `forUpdate()` and
 * `forShare()`, as PostgreSQL needs when several instances write. SQLite has no row locks and no
 * such syntax: its write transactions already run one at a time on the embedded store's one
 * connection, so the SQLite store drops the lock from the statement (the outermost select's; a
 * lock inside a subquery is not ours to write).
 */
export class DropRowLocks implements KyselyPlugin {
  transformQuery({ node }: PluginTransformQueryArgs): RootOperationNode {
    if (node.kind !== 'SelectQueryNode' || node.endModifiers === undefined) return node;
    const kept = node.endModifiers.filter(
      (modifier) => !modifier.modifier || !ROW_LOCKS.has(modifier.modifier),
    );
    if (kept.length === node.endModifiers.length) return node;
    return { ...node, endModifiers: kept.length > 0 ? kept : undefined };
  }

  async transformResult({ result }: PluginTransformResultArgs): Promise<QueryResult<UnknownRow>> {
    return result;
  }
}

/**
 * A unique or primary-key violation: PostgreSQL's SQLSTATE 23505, SQLite's extended result codes.
 * The caller decides what it means (a name taken, a concurrent insert that won the race).
 */
export function isUniqueViolation(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return code === '23505' || code === 'SQLITE_CONSTRAINT_UNIQUE' || code === 'SQLITE_CONSTRAINT_PRIMARYKEY';
}
