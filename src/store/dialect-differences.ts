import {
  type BinaryOperationNode,
  type KyselyPlugin,
  type OperationNode,
  OperationNodeTransformer,
  OperatorNode,
  type PluginTransformQueryArgs,
  type PluginTransformResultArgs,
  type QueryResult,
  RawNode,
  type RootOperationNode,
  type SelectModifier,
  SelectQueryNode,
  type UnknownRow,
  ValueNode,
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

/** Comparisons whose parameter SQLite's planner may read when it orders a join. */
const COMPARISONS: ReadonlySet<string> = new Set(['=', '==', '!=', '<>', '<', '<=', '>', '>=']);

/** A parameter as `+?`: the same value to SQLite, but no longer a bare parameter. */
const unaryPlus = (operand: OperationNode): OperationNode =>
  ValueNode.is(operand) && !operand.immediate ? RawNode.create(['+', ''], [operand]) : operand;

class ComparedParametersAsExpressions extends OperationNodeTransformer {
  protected override transformBinaryOperation(node: BinaryOperationNode): BinaryOperationNode {
    const transformed = super.transformBinaryOperation(node);
    if (!OperatorNode.is(transformed.operator) || !COMPARISONS.has(transformed.operator.operator))
      return transformed;
    return {
      ...transformed,
      leftOperand: unaryPlus(transformed.leftOperand),
      rightOperand: unaryPlus(transformed.rightOperand),
    };
  }
}

/**
 * SQLite prepares a statement that reads several tables anew each time one of the parameters it
 * compares is bound again (its planner keeps the right to order the join differently for another
 * value), and better-sqlite3 then builds its row maker anew too: a lookup of a user with its
 * account cost three to four times the same lookups one table at a time. The unary plus, a no-op
 * for every SQLite value (text, number, blob, null) that keeps indexes usable, makes the
 * parameter an expression whose value the planner does not read, so the statement stays
 * prepared. Only the conditions of selects that join; the SQLite store only (PostgreSQL plans its
 * own way).
 */
export class KeepJoinsPrepared implements KyselyPlugin {
  readonly #transformer = new ComparedParametersAsExpressions();

  transformQuery({ node }: PluginTransformQueryArgs): RootOperationNode {
    if (!SelectQueryNode.is(node)) return node;
    const tables = (node.from?.froms.length ?? 0) + (node.joins?.length ?? 0);
    if (tables < 2) return node;
    // The conditions only: rebuilding the whole tree (the selected columns) would cost more.
    return {
      ...node,
      ...(node.where ? { where: this.#transformer.transformNode(node.where) } : {}),
      ...(node.joins
        ? {
            joins: node.joins.map((join) =>
              join.on ? { ...join, on: this.#transformer.transformNode(join.on) } : join,
            ),
          }
        : {}),
    };
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
