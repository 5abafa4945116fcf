// OVSDB's wire protocol (RFC 7047), pure: the values of the database as JSON (atoms, sets, maps,
// UUIDs and named UUIDs, section 5.1), the operations of a "transact" (section 5.2), the JSON-RPC
// 1.0 messages that carry them (section 4), and the results read back with each operation's
// error. The socket is client.ts's.
//
// Values: a set of one element may be sent as the element itself, and the server answers so too
// (`"tag": 10` or `"tag": ["set", []]`); a map is ["map", [[k, v], ...]]; a row's UUID is
// ["uuid", "..."]; a row inserted in the same transaction is ["named-uuid", "<uuid-name>"].

export type Atom = string | number | boolean | Uuid | NamedUuid;
export type Uuid = ['uuid', string];
export type NamedUuid = ['named-uuid', string];
export type OvsSet = ['set', Atom[]];
export type OvsMap = ['map', [Atom, Atom][]];
export type Value = Atom | OvsSet | OvsMap;
export type Row = Record<string, Value>;

export type Condition = [column: string, fn: '==' | '!=' | 'includes' | 'excludes' | '<' | '<=' | '>' | '>=', value: Value];
export type Mutation = [column: string, mutator: 'insert' | 'delete' | '+=' | '-=' | '*=' | '/=' | '%=', value: Value];

export type Operation =
  | { op: 'insert'; table: string; row: Row; 'uuid-name'?: string }
  | { op: 'select'; table: string; where: Condition[]; columns?: string[] }
  | { op: 'update'; table: string; where: Condition[]; row: Row }
  | { op: 'mutate'; table: string; where: Condition[]; mutations: Mutation[] }
  | { op: 'delete'; table: string; where: Condition[] }
  | { op: 'wait'; table: string; where: Condition[]; columns: string[]; until: '==' | '!='; rows: Row[]; timeout?: number }
  | { op: 'comment'; comment: string };

/** One operation's answer (section 5.2): inserted uuid, selected rows, or a count. */
export interface OperationResult {
  uuid?: Uuid;
  rows?: Row[];
  count?: number;
}

export const uuid = (value: string): Uuid => ['uuid', value];
export const namedUuid = (name: string): NamedUuid => ['named-uuid', name];
export const set = (atoms: readonly Atom[]): OvsSet => ['set', [...atoms]];
export const map = (entries: Record<string, string>): OvsMap => ['map', Object.entries(entries)];

/** A set column's atoms, whether the server sent a bare atom or ["set", [...]]. */
export function setAtoms(value: Value | undefined): Atom[] {
  if (value === undefined) return [];
  if (Array.isArray(value) && value[0] === 'set') return value[1] as Atom[];
  return [value as Atom];
}

/** A map column as a plain record of strings (external_ids, other_config, options). */
export function mapEntries(value: Value | undefined): Record<string, string> {
  if (!Array.isArray(value) || value[0] !== 'map') return {};
  return Object.fromEntries((value[1] as [Atom, Atom][]).map(([k, v]) => [String(k), String(v)]));
}

/** A UUID column's value as its text. */
export function uuidOf(value: Value | undefined): string | undefined {
  return Array.isArray(value) && value[0] === 'uuid' ? (value[1] as string) : undefined;
}

/** An optional integer column (a set of 0 or 1 integers: `tag`, `ofport`). */
export function optionalInteger(value: Value | undefined): number | undefined {
  const [atom] = setAtoms(value);
  return typeof atom === 'number' ? atom : undefined;
}

export interface Request {
  method: string;
  params: unknown[];
  id: number | string | null;
}

export function transactRequest(database: string, operations: readonly Operation[], id: number): Request {
  return { method: 'transact', params: [database, ...operations], id };
}

/**
 * Why a transaction failed: the first operation's error (section 5.2: a failed operation's result
 * is {"error", "details"}, the ones after it null), or the commit's (an extra result past the
 * operations: "constraint violation", "referential integrity violation", ...). `index` is the
 * operation's position; the commit's is operations.length.
 */
export class OvsdbTransactionError extends Error {
  override readonly name = 'OvsdbTransactionError';
  readonly error: string;
  readonly details: string | undefined;
  readonly index: number;
  readonly operation: Operation | undefined;
  constructor(error: string, details: string | undefined, index: number, operation: Operation | undefined) {
    super(`ovsdb refused the transaction: ${error}${details ? ` (${details})` : ''}${operation ? ` at operation ${index} (${operation.op}${'table' in operation ? ` ${operation.table}` : ''})` : ' at commit'}`);
    this.error = error;
    this.details = details;
    this.index = index;
    this.operation = operation;
  }
}

/** The server's answer did not follow the protocol. */
export class OvsdbProtocolError extends Error {
  override readonly name = 'OvsdbProtocolError';
}

/** The results of a transact's answer, one per operation; throws the first failure. */
export function transactResults(operations: readonly Operation[], result: unknown): OperationResult[] {
  if (!Array.isArray(result)) throw new OvsdbProtocolError(`a transact result must be an array, got ${JSON.stringify(result)}`);
  for (let i = 0; i < result.length; i++) {
    const entry = result[i] as { error?: unknown; details?: unknown } | null;
    if (entry && typeof entry.error === 'string') {
      throw new OvsdbTransactionError(entry.error, typeof entry.details === 'string' ? entry.details : undefined, i, operations[i]);
    }
  }
  if (result.length < operations.length) throw new OvsdbProtocolError(`a transact of ${operations.length} operations answered ${result.length} results`);
  return result.slice(0, operations.length) as OperationResult[];
}

/**
 * Splits a byte stream into JSON texts. OVSDB's JSON-RPC has no framing: messages follow each
 * other on the stream, and one may arrive in pieces or several in one read. A message ends where
 * its outermost brace closes (every message is an object); braces inside strings do not count.
 */
export class JsonStream {
  private buffer = '';
  private depth = 0;
  private inString = false;
  private escaped = false;
  private scanned = 0;

  /** Adds a chunk; returns the complete messages it finished, parsed. */
  push(chunk: string): unknown[] {
    this.buffer += chunk;
    const messages: unknown[] = [];
    let start = 0;
    for (let i = this.scanned; i < this.buffer.length; i++) {
      const c = this.buffer[i];
      if (this.inString) {
        if (this.escaped) this.escaped = false;
        else if (c === '\\') this.escaped = true;
        else if (c === '"') this.inString = false;
      } else if (c === '"') {
        this.inString = true;
      } else if (c === '{' || c === '[') {
        this.depth++;
      } else if (c === '}' || c === ']') {
        this.depth--;
        if (this.depth === 0) {
          messages.push(JSON.parse(this.buffer.slice(start, i + 1)));
          start = i + 1;
        }
      }
    }
    this.buffer = this.buffer.slice(start).trimStart();
    this.scanned = this.buffer.length;
    return messages;
  }
}
