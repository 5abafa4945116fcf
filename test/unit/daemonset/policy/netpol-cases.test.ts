// The upstream Netpol cases (test/fixtures/netpol-cases.ts) through the compiler: the nine pods on
// two nodes as the integration test places them, each case's labels and policies, both nodes'
// tables compiled and read by explainPods() (egress on the source's node, ingress on the
// destination's, both families), and the matrix must equal the case's. This is where the SCTP
// cases are judged (the kernel here has no SCTP), and where a wrong expectation shows in
// milliseconds rather than in the probed run. Also: every upstream case has its port, and a row
// in docs/architecture.md's table.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { explainPods } from '../../../../daemonset/policy/explain-pods.ts';
import { compilePolicies } from '../../../../daemonset/policy/compile.ts';
import type { Pod } from '../../../../daemonset/policy/model.ts';
import { caseName, defaultNamespaceLabels, defaultPodLabels, largeCidrFor, NAMESPACES, netpolCases, POD_NAMES, Reachability, UPSTREAM, type Addresses, type NetpolCase } from '../../../fixtures/netpol-cases.ts';
import { namespace, pod } from '../../../fixtures/policy-objects.ts';

const ROOT = path.resolve(import.meta.dirname, '../../../..');
const refs = NAMESPACES.flatMap((ns) => POD_NAMES.map((name) => `${ns}/${name}`));
/** As policy-agent.test.ts places them: a, x/c and z/c on node-0, the rest on node-1. */
const nodeOf = (ref: string) => (ref.endsWith('/a') || ref === 'x/c' || ref === 'z/c' ? 'node-0' : 'node-1');
const ip: Addresses = { v4: {}, v6: {} };
refs.forEach((ref, i) => {
  const n = nodeOf(ref) === 'node-0' ? 1 : 2;
  ip.v4[ref] = `10.244.${n}.${10 + i}`;
  ip.v6[ref] = `fd00:10:244:${n}::${(10 + i).toString(16)}`;
});
const namedPorts = [80, 81].flatMap((port) => (['TCP', 'UDP'] as const).map((protocol) => ({ name: `serve-${port}-${protocol.toLowerCase()}`, containerPort: port, protocol })));

function objectsOf(c: NetpolCase) {
  const podLabels = new Map(refs.map((r) => [r, defaultPodLabels(r)]));
  const nsLabels = new Map(NAMESPACES.map((ns) => [ns as string, defaultNamespaceLabels(ns)]));
  for (const m of c.mutations ?? []) {
    if (m.kind === 'pod-labels') podLabels.set(m.pod, m.labels);
    else nsLabels.set(m.ns, { ...defaultNamespaceLabels(m.ns), ...m.labels });
  }
  const pods: Pod[] = refs.map((r) => pod(r, [ip.v4[r]!, ip.v6[r]!], podLabels.get(r), { node: nodeOf(r), ports: namedPorts }));
  return { pods, namespaces: NAMESPACES.map((ns) => namespace(ns, nsLabels.get(ns))), policies: c.policies };
}

describe('the upstream Netpol cases, judged by the compiler', () => {
  test('every upstream case has its port, and every case names one (or is ours)', () => {
    const cases = netpolCases(ip);
    for (const [suite, names] of Object.entries(UPSTREAM)) {
      assert.equal(new Set(names).size, names.length, `${suite}: no name twice`);
      for (const it of names) assert.ok(cases.some((c) => c.suite === suite && c.it === it), `[${suite}] ${it}: not ported`);
    }
    for (const c of cases) if (c.suite !== 'bridgeway') assert.ok(UPSTREAM[c.suite].includes(c.it), `${caseName(c)}: no such upstream case`);
    assert.equal(new Set(cases.map(caseName)).size, cases.length, 'every case and step has its own name');
    assert.equal(Object.values(UPSTREAM).flat().length, 48, 'upstream: 42 TCP cases, 3 UDP, 3 SCTP');
  });

  test('docs/architecture.md lists every upstream case in its table', () => {
    const docs = fs.readFileSync(path.join(ROOT, 'docs/architecture.md'), 'utf8');
    for (const [suite, names] of Object.entries(UPSTREAM)) for (const it of names) assert.ok(docs.includes(`| ${suite} | ${it} |`), `docs: no row for [${suite}] ${it}`);
  });

  test('upstream\'s makeLargeCIDRForIP: the /4 holding the address', () => {
    assert.equal(largeCidrFor('10.244.2.7'), '0.0.0.0/4');
    assert.equal(largeCidrFor('192.168.0.1'), '192.0.0.0/4');
    assert.equal(largeCidrFor('fd00:10:244:2::7'), 'f000::/4');
    assert.equal(largeCidrFor('2001:db8::1'), '2000::/4');
  });

  for (const c of netpolCases(ip)) {
    test(caseName(c), () => {
      const objects = objectsOf(c);
      for (const node of ['node-0', 'node-1']) assert.deepEqual(compilePolicies({ ...objects, nodeName: node }).errors, [], `${node}: every policy compiles`);
      const wrong: string[] = [];
      for (const check of c.checks) {
        const expected = new Reachability(refs);
        check.expect(expected);
        for (const from of refs) {
          for (const to of refs) {
            if (from === to) continue;
            const verdicts = explainPods(objects, { from, to, port: check.port, protocol: check.protocol }).filter((l) => /: (ALLOWED|DENIED)$/.test(l));
            assert.equal(verdicts.length, 2, 'both families judged');
            const want = expected.allowed.get(`${from} ${to}`)!;
            for (const line of verdicts) if (line.endsWith('ALLOWED') !== want) wrong.push(`  ${check.port}/${check.protocol} ${line} (expected ${want ? 'allowed' : 'denied'})`);
          }
        }
      }
      assert.equal(wrong.length, 0, `the compiled tables differ from the case's matrix:\n${wrong.join('\n')}`);
    });
  }
});
