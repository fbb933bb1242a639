import {
  AliasNode,
  AndNode,
  BinaryOperationNode,
  ColumnNode,
  DeleteQueryNode,
  InsertQueryNode,
  type KyselyPlugin,
  type OperationNode,
  type OperationNodeKind,
  OperatorNode,
  ParensNode,
  type PluginTransformQueryArgs,
  type PluginTransformResultArgs,
  PrimitiveValueListNode,
  type QueryId,
  type QueryResult,
  RawNode,
  ReferenceNode,
  type RootOperationNode,
  SelectQueryNode,
  TableNode,
  type UnknownRow,
  UpdateQueryNode,
  ValueListNode,
  ValueNode,
} from 'kysely';

/**
 * What one statement may have changed, read from its operation nodes, erring on the side of
 * "more":
 * - `insert`: new rows in `table` only; no existing row of any table changed.
 * - `rows`: existing rows of `table` updated or deleted. With `keys`, only rows whose column
 *   equals one of the listed values, for each column listed (equalities ANDed in the WHERE
 *   clause); without, any row.
 * - `unknown`: a statement that cannot be read this way (raw SQL other than a SELECT, schema
 *   changes, a query compiled by hand): anything may have changed.
 */
export type Write =
  | { kind: 'insert'; table: string }
  | { kind: 'rows'; table: string; keys: ReadonlyMap<string, readonly unknown[]> | null }
  | { kind: 'unknown' }
  /**
   * PostgreSQL only, where other connections read while a transaction of this process is open:
   * a transaction began (`open`) or ended. Its writes are announced statement by statement as
   * they run, but others see them only at commit, so what a reader reads while one is open may
   * be about to change.
   */
  | { kind: 'transaction'; open: boolean };

export type WriteListener = (write: Write) => void;

const UNKNOWN: readonly Write[] = Object.freeze([{ kind: 'unknown' }]);
const NOTHING: readonly Write[] = Object.freeze([]);

/**
 * A Kysely plugin that tells listeners about every write this process makes through the Kysely
 * instance it is installed on (and the transactions and `withPlugin`/`withSchema` copies made
 * from it, which keep its plugins). It changes no query.
 *
 * Kysely calls `transformQuery` with the operation tree of every query it builds before running
 * it, and `transformResult` after every query it has run, with the same query id. So each write
 * is announced twice: when it is built, and once it has run. A reader that compares a counter
 * of announcements before and after its own read can tell whether any write overlapped it. A
 * result whose query was never shown to `transformQuery` (a `CompiledQuery` made by hand) is
 * announced as `unknown`.
 */
export class WriteFeed implements KyselyPlugin {
  readonly #listeners = new Set<WriteListener>();
  /** Weak, as Kysely advises: not every built query runs. */
  readonly #described = new WeakMap<QueryId, readonly Write[]>();

  subscribe(listener: WriteListener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  transformQuery({ node, queryId }: PluginTransformQueryArgs): RootOperationNode {
    const writes = describeWrites(node);
    this.#described.set(queryId, writes);
    this.#announce(writes);
    return node;
  }

  async transformResult({ result, queryId }: PluginTransformResultArgs): Promise<QueryResult<UnknownRow>> {
    this.#announce(this.#described.get(queryId) ?? UNKNOWN);
    return result;
  }

  /** Writes this feed could not see in a statement (the transaction marks, another instance's). */
  announce(writes: readonly Write[]): void {
    this.#announce(writes);
  }

  #announce(writes: readonly Write[]): void {
    for (const write of writes) for (const listener of this.#listeners) listener(write);
  }
}

/** Every write a statement may make; empty for a read. */
export function describeWrites(node: RootOperationNode): readonly Write[] {
  if (RawNode.is(node)) return /^\s*select\b/i.test(node.sqlFragments[0] ?? '') ? NOTHING : UNKNOWN;
  if (SelectQueryNode.is(node)) return containsWrite(node) ? UNKNOWN : NOTHING;
  if (InsertQueryNode.is(node)) return describeInsert(node);
  if (UpdateQueryNode.is(node)) {
    const table = tableName(node.table);
    if (table === undefined || containsWrite(node)) return UNKNOWN;
    // With FROM or joins, an unqualified column in WHERE may belong to another table.
    const joined = node.from !== undefined || (node.joins?.length ?? 0) > 0;
    return [{ kind: 'rows', table, keys: joined ? null : equalities(node.where?.where, table) }];
  }
  if (DeleteQueryNode.is(node)) {
    const [only, ...others] = node.from.froms;
    const table = tableName(only);
    if (table === undefined || others.length > 0 || containsWrite(node)) return UNKNOWN;
    const joined = node.using !== undefined || (node.joins?.length ?? 0) > 0;
    return [{ kind: 'rows', table, keys: joined ? null : equalities(node.where?.where, table) }];
  }
  return UNKNOWN;
}

function describeInsert(node: InsertQueryNode): readonly Write[] {
  const table = tableName(node.into);
  if (table === undefined || containsWrite(node)) return UNKNOWN;
  // INSERT OR REPLACE deletes the rows it conflicts with; ON CONFLICT DO UPDATE changes them.
  const touchesExisting =
    node.replace === true ||
    (node.orAction !== undefined && node.orAction.action.toLowerCase() !== 'ignore') ||
    (node.onConflict !== undefined && node.onConflict.doNothing !== true) ||
    node.onDuplicateKey !== undefined;
  return [touchesExisting ? { kind: 'rows', table, keys: null } : { kind: 'insert', table }];
}

function tableName(node: OperationNode | undefined): string | undefined {
  if (node === undefined) return undefined;
  if (AliasNode.is(node)) return tableName(node.node);
  return TableNode.is(node) ? node.table.identifier.name : undefined;
}

/** Columns compared with `=` or `in` to literal values in an AND of conditions on `table`. */
function equalities(where: OperationNode | undefined, table: string): Map<string, unknown[]> | null {
  if (where === undefined) return null;
  const keys = new Map<string, unknown[]>();
  const visit = (node: OperationNode): void => {
    if (ParensNode.is(node)) {
      visit(node.node);
      return;
    }
    if (AndNode.is(node)) {
      visit(node.left);
      visit(node.right);
      return;
    }
    if (!BinaryOperationNode.is(node) || !OperatorNode.is(node.operator)) return;
    const column = columnOf(node.leftOperand, table);
    if (column === undefined) return;
    const values = literalValues(node.operator.operator, node.rightOperand);
    if (values !== undefined) keys.set(column, values);
  };
  visit(where);
  return keys.size > 0 ? keys : null;
}

function columnOf(node: OperationNode, table: string): string | undefined {
  if (!ReferenceNode.is(node) || !ColumnNode.is(node.column)) return undefined;
  if (node.table !== undefined && node.table.table.identifier.name !== table) return undefined;
  return node.column.column.name;
}

function literalValues(operator: string, node: OperationNode): unknown[] | undefined {
  if (operator === '=' && ValueNode.is(node)) return [node.value];
  if (operator !== 'in') return undefined;
  if (PrimitiveValueListNode.is(node)) return [...node.values];
  if (ValueListNode.is(node) && node.values.every((value) => ValueNode.is(value)))
    return node.values.map((value) => (value as ValueNode).value);
  return undefined;
}

const WRITE_KINDS: ReadonlySet<OperationNodeKind> = new Set<OperationNodeKind>([
  'InsertQueryNode',
  'UpdateQueryNode',
  'DeleteQueryNode',
  'MergeQueryNode',
]);

/**
 * A write nested in the statement `node`: a data-modifying CTE. Both databases take a write
 * inside another statement only in its WITH clause (a subquery anywhere else must be a SELECT),
 * so only that clause is searched, not the whole tree: every SELECT passes through here, and
 * walking all its nodes cost more than building it.
 */
function containsWrite(node: { with?: OperationNode }): boolean {
  if (node.with === undefined) return false;
  const stack: unknown[] = [node.with];
  while (stack.length > 0) {
    const value = stack.pop();
    if (Array.isArray(value)) {
      stack.push(...value);
      continue;
    }
    if (typeof value !== 'object' || value === null) continue;
    const { kind } = value as Partial<OperationNode>;
    if (kind === undefined) continue;
    if (WRITE_KINDS.has(kind)) return true;
    if (kind === 'ValueNode' || kind === 'PrimitiveValueListNode') continue;
    stack.push(...Object.values(value));
  }
  return false;
}
