// The part of RFC 6902 (JSON Patch) that the manifests' kustomize overlays use: `add` and
// `replace`, with RFC 6901 pointers. Every other operation, and a path that does not lead where
// the operation needs it to, is a JsonPatchError naming the operation: a renderer that silently
// skipped a patch would ship the default manifest under the variant's name.

export class JsonPatchError extends Error {
  override name = 'JsonPatchError';
}

export type JsonPatchOp = { op: 'add' | 'replace'; path: string; value: unknown };

export const SUPPORTED_OPS = ['add', 'replace'] as const;

/** A patch file's content (a YAML or JSON list of operations), checked. */
export function parsePatch(content: unknown, source: string): JsonPatchOp[] {
  if (!Array.isArray(content)) throw new JsonPatchError(`${source}: not a JSON patch (a list of operations); strategic-merge patches are not supported`);
  return content.map((op, i) => {
    const where = `${source}, operation ${i + 1}`;
    if (typeof op !== 'object' || op === null) throw new JsonPatchError(`${where}: not an object`);
    const { op: name, path, value, ...rest } = op as Record<string, unknown>;
    if (!(SUPPORTED_OPS as readonly unknown[]).includes(name)) throw new JsonPatchError(`${where}: op ${JSON.stringify(name)} is not supported (only ${SUPPORTED_OPS.join(', ')})`);
    if (typeof path !== 'string' || (path !== '' && !path.startsWith('/'))) throw new JsonPatchError(`${where}: path must be a JSON pointer ("/a/b"), got ${JSON.stringify(path)}`);
    if (!('value' in (op as object))) throw new JsonPatchError(`${where}: ${name as string} needs a value`);
    if (Object.keys(rest).length) throw new JsonPatchError(`${where}: unknown keys ${Object.keys(rest).join(', ')}`);
    return { op: name as JsonPatchOp['op'], path, value };
  });
}

/** RFC 6901: "/a~1b/c~0d" -> ["a/b", "c~d"]. */
function tokens(pointer: string): string[] {
  return pointer === '' ? [] : pointer.slice(1).split('/').map((t) => t.replaceAll('~1', '/').replaceAll('~0', '~'));
}

/** `document` with the operations applied in order; the input is not changed. */
export function applyPatch<T>(document: T, ops: readonly JsonPatchOp[]): T {
  let result = structuredClone(document) as unknown;
  for (const { op, path, value } of ops) {
    const keys = tokens(path);
    const fail = (why: string): never => { throw new JsonPatchError(`${op} ${path}: ${why}`); };
    if (!keys.length) { result = structuredClone(value); continue; }
    let parent = result;
    for (const key of keys.slice(0, -1)) {
      const next = Array.isArray(parent) ? parent[arrayIndex(key, parent.length - 1, fail)] : isObject(parent) ? parent[key] : undefined;
      if (next === undefined) fail(`no ${JSON.stringify(key)} on the way`);
      parent = next;
    }
    const last = keys.at(-1)!;
    if (Array.isArray(parent)) {
      if (op === 'add') parent.splice(last === '-' ? parent.length : arrayIndex(last, parent.length, fail), 0, structuredClone(value));
      else parent[arrayIndex(last, parent.length - 1, fail)] = structuredClone(value);
    } else if (isObject(parent)) {
      if (op === 'replace' && !(last in parent)) fail(`no ${JSON.stringify(last)} to replace`);
      parent[last] = structuredClone(value);
    } else {
      fail('the parent is not an object or an array');
    }
  }
  return result as T;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** An array index token, at most `max` (RFC 6901: digits, no leading zero). */
function arrayIndex(token: string, max: number, fail: (why: string) => never): number {
  if (!/^(0|[1-9][0-9]*)$/.test(token) || Number(token) > max) fail(`${JSON.stringify(token)} is not an index of the array`);
  return Number(token);
}
