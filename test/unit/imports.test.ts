// The import rules of the source tree (shared/design.md, "Layout"), checked on every relative and
// package import of every module, so a forbidden import fails here rather than in review:
//   lib/ imports nothing of ours; ipam/ only lib/; cni/ and daemonset/ reach IPAM through
//   ipam/index.ts only; daemonset/ never imports the plugin (cni/); nothing imports the agent;
//   the Kubernetes client is the agent's kube/ folder's alone; bin/, the one executable's entry,
//   reaches the two roles through their mains only, and nothing in the product imports bin/;
//   and there are no circles. For the
//   code around the product: test/, e2e/ and bench/ share one test library, test/support/, which
//   imports none of them; e2e/ and bench/ reach test/ through it only; the product imports none.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { describe, test } from 'node:test';

const ROOT = path.resolve(import.meta.dirname, '../..');
const PRODUCT_DIRS = ['lib', 'ipam', 'cni', 'daemonset', 'bin'];
/** What bin/ may start: each role's process, nothing else of it. */
const ROLE_MAINS = ['cni/main.ts', 'daemonset/main.ts'];
const SOURCE_DIRS = [...PRODUCT_DIRS, 'test', 'e2e', 'bench', 'scripts'];

type Graph = Map<string, string[]>;

/** Every import specifier of a module (static, type-only and dynamic), comments stripped first. */
function importsOf(text: string): string[] {
  const code = text.replace(/\/\*[\s\S]*?\*\//g, '').replace(/^\s*\/\/.*$/gm, '');
  return [...code.matchAll(/(?:\bfrom\s*|\bimport\s*\(\s*|^\s*import\s+)(['"])([^'"]+)\1/gm)].map((m) => m[2]!);
}

function sourceFiles(dir: string): string[] {
  return fs.readdirSync(path.join(ROOT, dir), { recursive: true, encoding: 'utf8' })
    .filter((f) => f.endsWith('.ts'))
    .map((f) => path.join(dir, f));
}

/** Module -> what it imports: repository paths for our modules, package names otherwise. */
function importGraph(): Graph {
  const graph: Graph = new Map();
  for (const file of SOURCE_DIRS.flatMap(sourceFiles)) {
    const specs = importsOf(fs.readFileSync(path.join(ROOT, file), 'utf8'));
    graph.set(file, specs.map((spec) => (spec.startsWith('.') ? path.relative(ROOT, path.resolve(ROOT, path.dirname(file), spec)) : spec)));
  }
  return graph;
}

const ours = (target: string) => SOURCE_DIRS.some((dir) => target.startsWith(`${dir}/`));
const under = (dir: string) => (file: string) => file.startsWith(`${dir}/`);

/** One line per import that breaks a rule: `from -> to: why`. */
function violations(graph: Graph): string[] {
  const found: string[] = [];
  const product = (f: string) => PRODUCT_DIRS.some((dir) => under(dir)(f));
  const testCode = (t: string) => ['test', 'e2e', 'bench'].some((dir) => under(dir)(t));
  const rule = (from: (f: string) => boolean, to: (t: string) => boolean, why: string) => {
    for (const [file, targets] of graph) {
      if (!from(file)) continue;
      for (const target of targets) if (to(target)) found.push(`${file} -> ${target}: ${why}`);
    }
  };
  rule(under('lib'), (t) => ours(t) && !under('lib')(t), 'lib/ imports nothing of ours outside lib/');
  rule(under('ipam'), (t) => ours(t) && !under('lib')(t) && !under('ipam')(t), 'ipam/ imports only lib/');
  rule((f) => product(f) && !under('ipam')(f), (t) => under('ipam')(t) && t !== 'ipam/index.ts', 'IPAM has one front door, ipam/index.ts');
  rule(under('daemonset'), under('cni'), 'the agent never imports the plugin (shared names live in lib/names.ts)');
  rule((f) => product(f) && !under('daemonset')(f) && !under('bin')(f), under('daemonset'), 'nothing in the product imports the agent');
  rule(under('bin'), (t) => (under('cni')(t) || under('daemonset')(t)) && !ROLE_MAINS.includes(t), 'bin/ starts a role through its main only');
  rule((f) => product(f) && !under('bin')(f), under('bin'), 'nothing in the product imports the executable\'s entry (bin/)');
  rule((f) => product(f) && !under('daemonset/kube')(f), (t) => t.startsWith('@kubernetes/client-node'), 'only daemonset/kube/ uses the Kubernetes client');
  rule(product, testCode, 'the product imports no test, e2e or bench code');
  rule(under('test/support'), (t) => testCode(t) && !under('test/support')(t), 'test/support/ is the shared test library: it imports none of its users');
  rule((f) => under('e2e')(f) || under('bench')(f), (t) => under('test')(t) && !under('test/support')(t), 'e2e/ and bench/ use test/ through test/support/ only');
  return found;
}

/** Every import cycle among our modules, each as a path that ends where it starts. */
function cycles(graph: Graph): string[][] {
  const found: string[][] = [];
  const state = new Map<string, 'open' | 'done'>();
  const stack: string[] = [];
  const visit = (file: string) => {
    state.set(file, 'open');
    stack.push(file);
    for (const target of graph.get(file) ?? []) {
      if (!graph.has(target)) continue;
      if (state.get(target) === 'open') found.push([...stack.slice(stack.indexOf(target)), target]);
      else if (!state.has(target)) visit(target);
    }
    stack.pop();
    state.set(file, 'done');
  };
  for (const file of graph.keys()) if (!state.has(file)) visit(file);
  return found;
}

describe('import rules', () => {
  const graph = importGraph();

  test('every relative import names a file that exists', () => {
    const missing = [...graph].flatMap(([file, targets]) => targets.filter((t) => ours(t) && !graph.has(t)).map((t) => `${file} -> ${t}`));
    assert.deepEqual(missing, []);
  });

  test('no module breaks the layering', () => {
    assert.deepEqual(violations(graph), []);
  });

  test('no import circles', () => {
    assert.deepEqual(cycles(graph).map((c) => c.join(' -> ')), []);
  });

  test('the checks catch what they forbid', () => {
    const bad: Graph = new Map([
      ['lib/a.ts', ['cni/plan.ts']],
      ['ipam/x.ts', ['cni/plan.ts', 'lib/a.ts']],
      ['cni/plan.ts', ['ipam/disk-store.ts', 'lib/a.ts']],
      ['daemonset/doctor/gather.ts', ['cni/commands/gc.ts', '@kubernetes/client-node/dist/config.js']],
      ['ipam/disk-store.ts', []],
      ['cni/commands/gc.ts', []],
      ['test/support/cluster.ts', ['test/fixtures/agent-node.ts']],
      ['bench/cni.ts', ['test/fixtures/fake-runner.ts', 'test/support/lab.ts']],
      ['lib/b.ts', ['test/support/lab.ts']],
      ['bin/bridgeway.ts', ['cni/main.ts', 'daemonset/main.ts', 'daemonset/config.ts', 'lib/a.ts']],
      ['cni/main.ts', ['bin/role.ts']],
    ]);
    assert.deepEqual(violations(bad).sort(), [
      'lib/a.ts -> cni/plan.ts: lib/ imports nothing of ours outside lib/',
      'ipam/x.ts -> cni/plan.ts: ipam/ imports only lib/',
      'cni/plan.ts -> ipam/disk-store.ts: IPAM has one front door, ipam/index.ts',
      'daemonset/doctor/gather.ts -> cni/commands/gc.ts: the agent never imports the plugin (shared names live in lib/names.ts)',
      'daemonset/doctor/gather.ts -> @kubernetes/client-node/dist/config.js: only daemonset/kube/ uses the Kubernetes client',
      'lib/b.ts -> test/support/lab.ts: lib/ imports nothing of ours outside lib/',
      'lib/b.ts -> test/support/lab.ts: the product imports no test, e2e or bench code',
      'test/support/cluster.ts -> test/fixtures/agent-node.ts: test/support/ is the shared test library: it imports none of its users',
      'bench/cni.ts -> test/fixtures/fake-runner.ts: e2e/ and bench/ use test/ through test/support/ only',
      'bin/bridgeway.ts -> daemonset/config.ts: bin/ starts a role through its main only',
      'cni/main.ts -> bin/role.ts: nothing in the product imports the executable\'s entry (bin/)',
    ].sort());
    assert.deepEqual(cycles(new Map([['lib/a.ts', ['lib/b.ts']], ['lib/b.ts', ['lib/c.ts']], ['lib/c.ts', ['lib/a.ts']]])), [['lib/a.ts', 'lib/b.ts', 'lib/c.ts', 'lib/a.ts']]);
    // Quotes as \x27 and \x22, so that this file's own scan does not read the sample as imports.
    const sample = 'import a from \x27./a.ts\x27;\n// import b from \x27./b.ts\x27;\nconst k = await import(\x27./k.ts\x27);\nimport type { T } from \x22../t.ts\x22;';
    assert.deepEqual(importsOf(sample), ['./a.ts', './k.ts', '../t.ts']);
  });
});
