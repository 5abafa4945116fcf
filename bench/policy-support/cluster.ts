// The synthetic cluster bench:policy compiles: `bench/client` and `bench/server` on this node
// with 108 more pods of `bench` (a full node: kubelet's default limit is 110), N other pods in 50
// namespaces on 20 other nodes, and P policies in `bench` that all select both
// local pods, both directions: policy i allows namespace ns(i mod 50) on its own port (10000+i in,
// 20000+i out) and client -> server on 5202 (iperf3) and 7000 (the connect probe). So every judged
// packet of the measured traffic walks the longest path the table has: a class with ~2P port
// fragments and a peers chain that is the union of P rules, among ~200 elements per policy.
import type { NetworkPolicy, Pod, PolicyInput } from '../../daemonset/policy/model.ts';

export const NODE = 'bench-node';
export const CLIENT = { v4: '10.90.0.2' };
export const SERVER = { v4: '10.90.0.3' };
export const CONNECT_PORT = 7000;
// The port of the one running iperf3 connection (withStream, bench/net-support/antispoofing-ab.ts).
export const IPERF_PORT = 5202;

function pod(ns: string, name: string, ip: string, labels: Record<string, string>, node: string): Pod {
  return { metadata: { namespace: ns, name, labels }, spec: { nodeName: node, containers: [] }, status: { phase: 'Running', podIPs: [{ ip }] } };
}

const nsName = (i: number) => `ns${i % 50}`;
const byName = (name: string) => ({ matchLabels: { 'kubernetes.io/metadata.name': name } });

export function benchCluster(pods: number, policies: number): PolicyInput {
  const list: Pod[] = [pod('bench', 'client', CLIENT.v4, { app: 'client' }, NODE), pod('bench', 'server', SERVER.v4, { app: 'server' }, NODE)];
  for (let i = 0; i < 108; i++) list.push(pod('bench', `local${i}`, `10.90.1.${i + 1}`, { app: 'other' }, NODE));
  for (let i = 0; i < pods; i++) list.push(pod(nsName(i), `p${i}`, `10.${100 + (i >> 16)}.${(i >> 8) & 255}.${i & 255}`, { app: `a${i % 7}` }, `node-${i % 20}`));
  const namespaces = ['bench', ...Array.from({ length: 50 }, (_, i) => nsName(i))].map((name) => ({ metadata: { name, labels: { 'kubernetes.io/metadata.name': name } } }));
  const policyList: NetworkPolicy[] = Array.from({ length: policies }, (_, i) => ({
    metadata: { namespace: 'bench', name: `p${i}` },
    spec: {
      podSelector: {},
      policyTypes: ['Ingress', 'Egress'],
      ingress: [
        { from: [{ namespaceSelector: byName(nsName(i)) }], ports: [{ port: 10000 + i }] },
        { from: [{ podSelector: { matchLabels: { app: 'client' } } }], ports: [{ port: IPERF_PORT }, { port: CONNECT_PORT }] },
      ],
      egress: [
        { to: [{ namespaceSelector: byName(nsName(i)) }], ports: [{ port: 20000 + i }] },
        { to: [{ podSelector: { matchLabels: { app: 'server' } } }], ports: [{ port: IPERF_PORT }, { port: CONNECT_PORT }] },
      ],
    },
  }));
  return { pods: list, namespaces, policies: policyList, nodeName: NODE };
}

/** The same cluster after one change: one remote pod moved to another namespace (a label change's cost). */
export function afterOneChange(input: PolicyInput): PolicyInput {
  return { ...input, pods: input.pods.map((p, i) => (i === 110 ? { ...p, metadata: { ...p.metadata, namespace: 'ns49' } } : p)) };
}
