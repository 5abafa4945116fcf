// daemonset/policy/explain.ts: the verdict read from the compiled table, held against a
// reference evaluator written straight from the API's text (below, independent of the compiler),
// on fixed cases and on random clusters and policies (a fixed seed; POLICY_SEED=<n> explores or replays another).
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { parseCidr, parseIp, ipCidrContains, type IpAddress } from '../../../../lib/cidr.ts';
import { compilePolicies } from '../../../../daemonset/policy/compile.ts';
import { explain, formatExplanation } from '../../../../daemonset/policy/explain.ts';
import type { LabelSelector, NetworkPolicy, NetworkPolicyPeer, NetworkPolicyPort, Namespace, Pod, PolicyInput } from '../../../../daemonset/policy/model.ts';
import { ruleRefText } from '../../../../daemonset/policy/model.ts';
import { namespace, NODE, pod, policy, rng, scenario } from '../../../fixtures/policy-objects.ts';

const PROTO = { TCP: 6, UDP: 17, SCTP: 132 } as const;

// ---- the reference: the API documentation, evaluated directly ----
function labelsMatch(sel: LabelSelector, labels: Record<string, string> = {}): boolean {
  if (Object.entries(sel.matchLabels ?? {}).some(([k, v]) => labels[k] !== v)) return false;
  return (sel.matchExpressions ?? []).every((e) => {
    const has = k(labels, e.key);
    if (e.operator === 'In') return has && e.values!.includes(labels[e.key]!);
    if (e.operator === 'NotIn') return !has || !e.values!.includes(labels[e.key]!);
    if (e.operator === 'Exists') return has;
    return !has;
  });
}
const k = (o: object, key: string) => Object.prototype.hasOwnProperty.call(o, key);
const usable = (p: Pod) => !p.spec.hostNetwork && !['Succeeded', 'Failed'].includes(p.status?.phase ?? '') && (p.status?.podIPs?.length ?? 0) > 0;
const podAt = (input: PolicyInput, ip: IpAddress) => input.pods.find((p) => usable(p) && p.status!.podIPs!.some((a) => { const x = parseIp(a.ip)!; return x.family === ip.family && x.value === ip.value; }));
function peerMatches(input: PolicyInput, peers: readonly NetworkPolicyPeer[] | undefined, ns: string, other: IpAddress): boolean {
  if (!peers || peers.length === 0) return true;
  const otherPod = podAt(input, other);
  return peers.some((peer) => {
    if (peer.ipBlock) {
      const cidr = parseCidr(peer.ipBlock.cidr)!;
      return ipCidrContains(cidr, other) && !(peer.ipBlock.except ?? []).some((e) => ipCidrContains(parseCidr(e)!, other));
    }
    if (!otherPod) return false;
    const nsLabels = input.namespaces.find((n) => n.metadata.name === otherPod.metadata.namespace)?.metadata.labels;
    const nsOk = peer.namespaceSelector ? labelsMatch(peer.namespaceSelector, nsLabels) : otherPod.metadata.namespace === ns;
    return nsOk && (!peer.podSelector || labelsMatch(peer.podSelector, otherPod.metadata.labels));
  });
}
function portMatches(ports: readonly NetworkPolicyPort[] | undefined, proto: number, port: number, server: Pod | undefined): boolean {
  if (!ports || ports.length === 0) return true;
  return ports.some((p) => {
    if (PROTO[p.protocol ?? 'TCP'] !== proto) return false;
    if (p.port === undefined) return true;
    if (typeof p.port === 'number') return port >= p.port && port <= (p.endPort ?? p.port);
    return (server?.spec.containers ?? []).some((c) => (c.ports ?? []).some((cp) => cp.name === p.port && PROTO[cp.protocol ?? 'TCP'] === proto && cp.containerPort === port));
  });
}
function types(p: NetworkPolicy): readonly string[] {
  return p.spec.policyTypes ?? ['Ingress', ...((p.spec.egress?.length ?? 0) > 0 ? ['Egress'] : [])];
}
/** Whether a new connection passes this node, by the API's rules; the rules that allow each side. */
function reference(input: PolicyInput, src: IpAddress, dst: IpAddress, proto: number, port: number): boolean {
  if (src.family === dst.family && src.value === dst.value) return true;
  const srcPod = podAt(input, src);
  const dstPod = podAt(input, dst);
  const side = (self: Pod | undefined, dir: 'Ingress' | 'Egress', other: IpAddress, server: Pod | undefined) => {
    if (!self || self.spec.nodeName !== input.nodeName) return true;
    const selecting = input.policies.filter((p) => p.metadata.namespace === self.metadata.namespace && types(p).includes(dir) && labelsMatch(p.spec.podSelector, self.metadata.labels));
    if (selecting.length === 0) return true;
    return selecting.some((p) => (dir === 'Ingress' ? (p.spec.ingress ?? []).map((r) => ({ peers: r.from, ports: r.ports })) : (p.spec.egress ?? []).map((r) => ({ peers: r.to, ports: r.ports })))
      .some((r) => peerMatches(input, r.peers, p.metadata.namespace, other) && portMatches(r.ports, proto, port, server)));
  };
  return side(srcPod, 'Egress', dst, dstPod) && side(dstPod, 'Ingress', src, dstPod);
}

// ---- fixed cases ----
const ip = (text: string) => parseIp(text)!;
const namespaces: Namespace[] = [namespace('x', { team: 'a' }), namespace('y', { team: 'b' })];
const pods = [
  pod('x/a', ['10.0.0.1', 'fd00::1'], { pod: 'a' }, { ports: [{ name: 'http', containerPort: 8080 }] }),
  pod('x/b', ['10.0.0.2', 'fd00::2'], { pod: 'b' }),
  pod('y/a', ['10.0.1.1'], { pod: 'a' }, { node: 'node-2', ports: [{ name: 'http', containerPort: 9090 }] }),
];

describe('explain', () => {
  const input: PolicyInput = {
    pods, namespaces, nodeName: NODE, policies: [
      policy('x/web', { podSelector: { matchLabels: { pod: 'a' } }, ingress: [{ from: [{ namespaceSelector: { matchLabels: { team: 'b' } } }], ports: [{ port: 'http' }] }, { from: [{ podSelector: { matchLabels: { pod: 'b' } } }] }] }),
      policy('x/out', { podSelector: { matchLabels: { pod: 'b' } }, policyTypes: ['Egress'], egress: [{ to: [{ podSelector: { matchLabels: { pod: 'a' } }, namespaceSelector: {} }], ports: [{ port: 'http' }] }] }),
    ],
  };
  const compiled = compilePolicies(input);
  test('allowed by a namespaceSelector rule on a named port; the deciding rule named', () => {
    const e = explain(compiled, { src: ip('10.0.1.1'), dst: ip('10.0.0.1'), proto: 6, port: 8080 });
    assert.equal(e.allowed, true);
    assert.deepEqual(e.egress, { judged: false });
    assert.deepEqual(e.ingress, { judged: true, allowed: true, isolatedBy: ['x/web'], allowedBy: [{ policy: 'x/web', direction: 'ingress', index: 0 }] });
    assert.equal(e.reason, 'ingress allowed by x/web ingress[0] (isolated by x/web)');
    assert.equal(formatExplanation({ src: ip('10.0.1.1'), dst: ip('10.0.0.1'), proto: 6, port: 8080 }, e), '10.0.1.1 -> 10.0.0.1 proto 6 port 8080: ALLOWED: ingress allowed by x/web ingress[0] (isolated by x/web)');
  });
  test('denied: another port; the isolating policy named', () => {
    const e = explain(compiled, { src: ip('10.0.1.1'), dst: ip('10.0.0.1'), proto: 6, port: 80 });
    assert.equal(e.allowed, false);
    assert.equal(e.reason, 'ingress denied (isolated by x/web)');
  });
  test('both sides judged on one node: egress by a named port on the destination, ingress by a rule without ports; only matching rules are named', () => {
    const e = explain(compiled, { src: ip('10.0.0.2'), dst: ip('10.0.0.1'), proto: 6, port: 8080 });
    assert.equal(e.allowed, true);
    assert.deepEqual(e.egress, { judged: true, allowed: true, isolatedBy: ['x/out'], allowedBy: [{ policy: 'x/out', direction: 'egress', index: 0 }] });
    assert.deepEqual(e.ingress, { judged: true, allowed: true, isolatedBy: ['x/web'], allowedBy: [{ policy: 'x/web', direction: 'ingress', index: 1 }] }, 'ingress[0] covers the port but not this peer');
    const v6 = explain(compiled, { src: ip('fd00::2'), dst: ip('fd00::1'), proto: 6, port: 8080 });
    assert.equal(v6.allowed, true);
    const denied = explain(compiled, { src: ip('10.0.0.2'), dst: ip('10.0.1.1'), proto: 6, port: 8080 });
    assert.equal(denied.reason, 'egress denied (isolated by x/out)', 'y/a serves http on 9090');
    assert.equal(explain(compiled, { src: ip('10.0.0.2'), dst: ip('10.0.1.1'), proto: 6, port: 9090 }).allowed, true);
  });
  test('the node\'s own traffic, a pod to itself, and pods no policy isolates', () => {
    assert.match(explain(compiled, { src: 'node', dst: ip('10.0.0.1'), proto: 6, port: 22 }).reason, /output hook/);
    const self = explain(compiled, { src: ip('10.0.0.1'), dst: ip('10.0.0.1'), proto: 17, port: 9 });
    assert.equal(self.allowed, true);
    assert.equal(self.reason, 'a pod\'s traffic to itself is always allowed');
    const open = explain(compiled, { src: ip('10.0.0.1'), dst: ip('10.9.9.9'), proto: 1, port: 0 });
    assert.deepEqual([open.allowed, open.reason], [true, 'the end of pods_forward: its policy, accept']);
  });
});

describe('explain(compile()) agrees with the API\'s rules on random clusters', () => {
  test('every pair of addresses, TCP 80/81/90, UDP 53, ICMP', () => {
    // A fixed seed by default, so CI judges the same 200 clusters every run; POLICY_SEED=<n>
    // explores (or replays) others.
    const seed = Number(process.env.POLICY_SEED ?? 20261204);
    const random = rng(seed);
    let checked = 0;
    for (let round = 0; round < 200; round++) {
      const { input, addresses } = scenario(random);
      const compiled = compilePolicies(input);
      assert.deepEqual(compiled.errors, [], `seed ${seed} round ${round}`);
      for (const src of addresses) {
        for (const dst of addresses) {
          if (src.family !== dst.family) continue;
          for (const [proto, port] of [[6, 80], [6, 81], [6, 90], [17, 53], [1, 0]] as const) {
            const want = reference(input, src, dst, proto, port);
            const got = explain(compiled, { src, dst, proto, port });
            checked++;
            if (got.allowed !== want) {
              assert.fail(`POLICY_SEED=${seed} round ${round}: ${formatExplanation({ src, dst, proto, port }, got)}; the API says ${want ? 'allowed' : 'denied'}\n${JSON.stringify(input.policies, null, 1)}`);
            }
            for (const side of [got.egress, got.ingress]) if (side.judged && side.allowed) assert.ok(side.allowedBy.length > 0 || side.isolatedBy.length > 0, 'an allowed side names its rules');
          }
        }
      }
    }
    process.stderr.write(`explain vs reference: ${checked} verdicts agree (POLICY_SEED=${seed})\n`);
    assert.ok(checked > 10_000);
  });
  test('every named rule really allows the connection (allowedBy is never a bystander)', () => {
    const random = rng(7);
    for (let round = 0; round < 50; round++) {
      const { input, addresses } = scenario(random);
      const compiled = compilePolicies(input);
      for (const src of addresses) for (const dst of addresses) {
        if (src.family !== dst.family) continue;
        const got = explain(compiled, { src, dst, proto: 6, port: 80 });
        for (const [side, dir] of [[got.ingress, 'ingress'], [got.egress, 'egress']] as const) {
          if (!side.judged) continue;
          for (const ref of side.allowedBy) {
            const only = { ...input, policies: input.policies.map((p) => `${p.metadata.namespace}/${p.metadata.name}` !== ref.policy ? p : { ...p, spec: { ...p.spec, [dir]: (p.spec[dir] ?? []).filter((_r, i) => i === ref.index) } }) };
            // With only that rule left in its policy, the side must still be allowed.
            const again = explain(compilePolicies(only), { src, dst, proto: 6, port: 80 });
            assert.equal((dir === 'ingress' ? again.ingress : again.egress).judged && (dir === 'ingress' ? again.ingress : again.egress), (dir === 'ingress' ? again.ingress : again.egress), ruleRefText(ref));
            const s = dir === 'ingress' ? again.ingress : again.egress;
            assert.ok(!s.judged || s.allowed, `${ruleRefText(ref)} alone still allows ${dir}`);
          }
        }
      }
    }
  });
});
