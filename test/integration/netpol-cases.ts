// The upstream Kubernetes e2e "Netpol" cases (test/e2e/network/netpol/network_policy.go in
// kubernetes/kubernetes), ported as data: each case is a set of policies (and, for some, a change
// to labels or pods first) and the expected reachability matrix over the pods x/a .. z/c, written
// with the upstream Reachability's own verbs (every pair allowed, then expectPeer / expect /
// allIngress / allEgress in order, later calls overriding earlier ones). As upstream, a pod's
// traffic to itself is not judged (ignoreLoopback). Pods carry `pod: <name>`, namespaces
// `ns: <name>` and `kubernetes.io/metadata.name: <name>`; every pod serves TCP and UDP on 80 and
// 81, named serve-80-tcp, serve-80-udp, serve-81-tcp, serve-81-udp.
import type { NetworkPolicy, NetworkPolicyIngressRule, NetworkPolicyEgressRule, LabelSelector } from '../../daemonset/policy/model.ts';

export const NAMESPACES = ['x', 'y', 'z'] as const;
export const POD_NAMES = ['a', 'b', 'c'] as const;
export const NS_LABEL = 'kubernetes.io/metadata.name';

export interface Peer { ns?: string; pod?: string }

/** The expected matrix: `from -> to` (pod strings `ns/name`) allowed or not. */
export class Reachability {
  readonly pods: string[];
  readonly allowed = new Map<string, boolean>();

  constructor(pods: string[]) {
    this.pods = pods;
    for (const from of pods) for (const to of pods) this.allowed.set(`${from} ${to}`, true);
  }

  private matches(pod: string, peer: Peer): boolean {
    const [ns, name] = pod.split('/');
    return (peer.ns === undefined || peer.ns === ns) && (peer.pod === undefined || peer.pod === name);
  }

  expectPeer(from: Peer, to: Peer, value: boolean): this {
    for (const f of this.pods) for (const t of this.pods) if (this.matches(f, from) && this.matches(t, to)) this.allowed.set(`${f} ${t}`, value);
    return this;
  }

  expect(from: string, to: string, value: boolean): this {
    this.allowed.set(`${from} ${to}`, value);
    return this;
  }

  allIngress(to: string, value: boolean): this {
    for (const f of this.pods) this.allowed.set(`${f} ${to}`, value);
    return this;
  }

  allEgress(from: string, value: boolean): this {
    for (const t of this.pods) this.allowed.set(`${from} ${t}`, value);
    return this;
  }
}

export interface Check { port: 80 | 81; protocol: 'TCP' | 'UDP'; expect: (r: Reachability) => void }

/** What a case changes besides its policies, applied before them (label changes, a new pod). */
export type Mutation =
  | { kind: 'namespace-labels'; ns: string; labels: Record<string, string> }
  | { kind: 'pod-labels'; pod: string; labels: Record<string, string> };

export interface NetpolCase {
  name: string;
  policies: NetworkPolicy[];
  mutations?: Mutation[];
  checks: Check[];
}

const sel = (labels: Record<string, string>): LabelSelector => ({ matchLabels: labels });
const nsSel = (ns: string): LabelSelector => sel({ [NS_LABEL]: ns });

function policy(ref: string, podSelector: LabelSelector, rules: { ingress?: NetworkPolicyIngressRule[]; egress?: NetworkPolicyEgressRule[]; types?: ('Ingress' | 'Egress')[] }): NetworkPolicy {
  const [namespace, name] = ref.split('/') as [string, string];
  const policyTypes = rules.types ?? [...(rules.ingress ? ['Ingress' as const] : []), ...(rules.egress ? ['Egress' as const] : [])];
  return { metadata: { namespace, name }, spec: { podSelector, policyTypes, ...(rules.ingress && { ingress: rules.ingress }), ...(rules.egress && { egress: rules.egress }) } };
}

const tcp80 = (expect: Check['expect']): Check => ({ port: 80, protocol: 'TCP', expect });
const tcp81 = (expect: Check['expect']): Check => ({ port: 81, protocol: 'TCP', expect });
const none = () => {};

/** Every pod's addresses in an ipBlock: filled in by the test once the plugin gave them. */
export interface Addresses { v4: Record<string, string>; v6: Record<string, string> }

export function netpolCases(ip: Addresses): NetpolCase[] {
  return [
    { name: "should support a 'default-deny-ingress' policy", policies: [policy('x/deny-ingress', {}, { ingress: [] })],
      checks: [tcp80((r) => r.expectPeer({}, { ns: 'x' }, false))] },
    { name: "should support a 'default-deny-all' policy", policies: [policy('x/deny-all', {}, { ingress: [], egress: [] })],
      checks: [tcp80((r) => r.expectPeer({}, { ns: 'x' }, false).expectPeer({ ns: 'x' }, {}, false))] },
    { name: 'should enforce policy to allow traffic from pods within server namespace based on PodSelector',
      policies: [policy('x/x-a-allows-x-b', sel({ pod: 'a' }), { ingress: [{ from: [{ podSelector: sel({ pod: 'b' }) }] }] })],
      checks: [tcp80((r) => r.allIngress('x/a', false).expect('x/b', 'x/a', true))] },
    { name: 'should enforce policy to allow ingress traffic for a target',
      policies: [policy('x/deny-all', {}, { ingress: [] }), policy('x/allow-all-to-a', sel({ pod: 'a' }), { ingress: [{ from: [{ podSelector: {}, namespaceSelector: {} }] }] })],
      checks: [tcp80((r) => r.allIngress('x/a', true).allIngress('x/b', false).allIngress('x/c', false))] },
    { name: 'should enforce policy to allow ingress traffic from pods in all namespaces',
      policies: [policy('x/allow-from-another-ns', sel({ pod: 'a' }), { ingress: [{ from: [{ namespaceSelector: {} }] }] })],
      checks: [tcp80(none)] },
    { name: 'should enforce policy to allow traffic only from a different namespace, based on NamespaceSelector',
      policies: [policy('x/allow-client-a-via-ns-selector', sel({ pod: 'a' }), { ingress: [{ from: [{ namespaceSelector: nsSel('y') }] }] })],
      checks: [tcp80((r) => r.expectPeer({ ns: 'x' }, { ns: 'x', pod: 'a' }, false).expectPeer({ ns: 'z' }, { ns: 'x', pod: 'a' }, false))] },
    { name: 'should enforce policy based on PodSelector with MatchExpressions',
      policies: [policy('x/x-a-allows-x-b', sel({ pod: 'a' }), { ingress: [{ from: [{ podSelector: { matchExpressions: [{ key: 'pod', operator: 'In', values: ['b'] }] } }] }] })],
      checks: [tcp80((r) => r.allIngress('x/a', false).expect('x/b', 'x/a', true))] },
    { name: 'should enforce policy based on NamespaceSelector with MatchExpressions',
      policies: [policy('x/allow-ns-y-match-selector', sel({ pod: 'a' }), { ingress: [{ from: [{ namespaceSelector: { matchExpressions: [{ key: NS_LABEL, operator: 'In', values: ['y'] }] } }] }] })],
      checks: [tcp80((r) => r.expectPeer({ ns: 'x' }, { ns: 'x', pod: 'a' }, false).expectPeer({ ns: 'z' }, { ns: 'x', pod: 'a' }, false))] },
    { name: 'should enforce policy based on PodSelector or NamespaceSelector',
      policies: [policy('x/allow-ns-y-match-selector', sel({ pod: 'a' }), { ingress: [{ from: [{ namespaceSelector: { matchExpressions: [{ key: NS_LABEL, operator: 'NotIn', values: ['x'] }] } }, { podSelector: sel({ pod: 'b' }) }] }] })],
      checks: [tcp80((r) => r.expect('x/a', 'x/a', false).expect('x/c', 'x/a', false))] },
    { name: 'should enforce policy based on PodSelector and NamespaceSelector',
      policies: [policy('x/allow-ns-y-podselector-and-nsselector', sel({ pod: 'a' }), { ingress: [{ from: [{ namespaceSelector: { matchExpressions: [{ key: NS_LABEL, operator: 'NotIn', values: ['x'] }] }, podSelector: sel({ pod: 'b' }) }] }] })],
      checks: [tcp80((r) => r.allIngress('x/a', false).expect('y/b', 'x/a', true).expect('z/b', 'x/a', true))] },
    { name: 'should enforce policy based on Multiple PodSelectors and NamespaceSelectors',
      policies: [policy('x/allow-ns-y-z-pod-b-c', sel({ pod: 'a' }), { ingress: [{ from: [{ namespaceSelector: { matchExpressions: [{ key: NS_LABEL, operator: 'NotIn', values: ['x'] }] }, podSelector: { matchExpressions: [{ key: 'pod', operator: 'In', values: ['b', 'c'] }] } }] }] })],
      checks: [tcp80((r) => r.expectPeer({ ns: 'x' }, { ns: 'x', pod: 'a' }, false).expect('y/a', 'x/a', false).expect('z/a', 'x/a', false))] },
    { name: 'should enforce policy based on any PodSelectors',
      policies: [policy('x/allow-ns-x-pod-b-c', sel({ pod: 'a' }), { ingress: [{ from: [{ podSelector: sel({ pod: 'b' }) }, { podSelector: sel({ pod: 'c' }) }] }] })],
      checks: [tcp80((r) => r.allIngress('x/a', false).expect('x/b', 'x/a', true).expect('x/c', 'x/a', true))] },
    { name: 'should enforce policy to allow traffic only from a pod in a different namespace based on PodSelector and NamespaceSelector',
      policies: [policy('x/allow-ns-y-pod-a-via-namespace-pod-selector', sel({ pod: 'a' }), { ingress: [{ from: [{ namespaceSelector: nsSel('y'), podSelector: sel({ pod: 'a' }) }] }] })],
      checks: [tcp80((r) => r.allIngress('x/a', false).expect('y/a', 'x/a', true))] },
    { name: 'should enforce policy based on Ports',
      policies: [policy('x/allow-client-a-via-ns-selector', sel({ pod: 'a' }), { ingress: [{ from: [{ namespaceSelector: nsSel('y') }], ports: [{ port: 81, protocol: 'TCP' }] }] })],
      checks: [tcp81((r) => r.expectPeer({ ns: 'x' }, { ns: 'x', pod: 'a' }, false).expectPeer({ ns: 'y' }, { ns: 'x', pod: 'a' }, true).expectPeer({ ns: 'z' }, { ns: 'x', pod: 'a' }, false)),
        tcp80((r) => r.allIngress('x/a', false))] },
    { name: 'should enforce multiple, stacked policies with overlapping podSelectors',
      policies: [
        policy('x/allow-client-a-via-ns-selector', sel({ pod: 'a' }), { ingress: [{ from: [{ namespaceSelector: nsSel('y') }], ports: [{ port: 81, protocol: 'TCP' }] }] }),
        policy('x/allow-client-a-via-ns-selector-80', sel({ pod: 'a' }), { ingress: [{ from: [{ namespaceSelector: nsSel('y') }], ports: [{ port: 80, protocol: 'TCP' }] }] }),
      ],
      checks: [80, 81].map((port) => ({ port: port as 80 | 81, protocol: 'TCP' as const, expect: (r: Reachability) => r.expectPeer({ ns: 'x' }, { ns: 'x', pod: 'a' }, false).expectPeer({ ns: 'y' }, { ns: 'x', pod: 'a' }, true).expectPeer({ ns: 'z' }, { ns: 'x', pod: 'a' }, false) })) },
    { name: 'should support allow-all policy', policies: [policy('x/allow-all', {}, { ingress: [{}] })], checks: [tcp80(none), tcp81(none)] },
    { name: 'should allow ingress access on one named port',
      policies: [policy('x/allow-all', {}, { ingress: [{ ports: [{ port: 'serve-81-tcp' }] }] })],
      checks: [tcp81(none), tcp80((r) => r.expectPeer({}, { ns: 'x' }, false))] },
    { name: 'should allow ingress access from namespace on one named port',
      policies: [policy('x/allow-client-a-via-ns-selector-80', sel({ pod: 'a' }), { ingress: [{ from: [{ namespaceSelector: nsSel('y') }], ports: [{ port: 'serve-80-tcp', protocol: 'TCP' }] }] })],
      checks: [tcp80((r) => r.expectPeer({ ns: 'x' }, { ns: 'x', pod: 'a' }, false).expectPeer({ ns: 'z' }, { ns: 'x', pod: 'a' }, false)), tcp81((r) => r.allIngress('x/a', false))] },
    { name: 'should allow egress access on one named port',
      policies: [policy('x/allow-egress', {}, { egress: [{ ports: [{ port: 'serve-80-tcp' }] }] })],
      checks: [tcp80(none), tcp81((r) => r.expectPeer({ ns: 'x' }, {}, false))] },
    { name: 'should enforce updated policy (part 1: allow all)', policies: [policy('x/allow-all-mutate-to-deny-all', {}, { ingress: [{}] })], checks: [tcp81(none)] },
    { name: 'should enforce updated policy (part 2: the same policy updated to deny all)', policies: [policy('x/allow-all-mutate-to-deny-all', {}, { ingress: [] })],
      checks: [tcp81((r) => r.expectPeer({}, { ns: 'x' }, false))] },
    { name: 'should allow ingress access from updated namespace (before the label)',
      policies: [policy('x/allow-client-a-via-ns-selector', sel({ pod: 'a' }), { ingress: [{ from: [{ namespaceSelector: sel({ ns2: 'updated' }) }] }] })],
      checks: [tcp80((r) => r.allIngress('x/a', false))] },
    { name: 'should allow ingress access from updated namespace (after the label)',
      policies: [policy('x/allow-client-a-via-ns-selector', sel({ pod: 'a' }), { ingress: [{ from: [{ namespaceSelector: sel({ ns2: 'updated' }) }] }] })],
      mutations: [{ kind: 'namespace-labels', ns: 'y', labels: { ns2: 'updated' } }],
      checks: [tcp80((r) => r.allIngress('x/a', false).expectPeer({ ns: 'y' }, {}, true))] },
    { name: 'should allow ingress access from updated pod',
      policies: [policy('x/allow-client-a-via-pod-selector', sel({ pod: 'a' }), { ingress: [{ from: [{ podSelector: sel({ pod: 'b', pod2: 'updated' }) }] }] })],
      mutations: [{ kind: 'namespace-labels', ns: 'y', labels: {} }, { kind: 'pod-labels', pod: 'x/b', labels: { pod: 'b', pod2: 'updated' } }],
      checks: [tcp80((r) => r.allIngress('x/a', false).expect('x/b', 'x/a', true))] },
    { name: 'should deny ingress from pods on other namespaces',
      policies: [policy('x/deny-empty-policy', {}, { ingress: [{ from: [{ podSelector: {} }] }] })],
      mutations: [{ kind: 'pod-labels', pod: 'x/b', labels: { pod: 'b' } }],
      checks: [tcp80((r) => r.expectPeer({ ns: 'y' }, { ns: 'x' }, false).expectPeer({ ns: 'z' }, { ns: 'x' }, false))] },
    { name: 'should deny ingress access to updated pod',
      policies: [policy('x/deny-ingress-via-label-selector', sel({ target: 'isolated' }), { ingress: [] })],
      mutations: [{ kind: 'pod-labels', pod: 'x/a', labels: { pod: 'a', target: 'isolated' } }],
      checks: [tcp80((r) => r.allIngress('x/a', false))] },
    { name: 'should deny egress from pods based on PodSelector',
      policies: [policy('x/deny-egress-pod-a', sel({ pod: 'a' }), { egress: [] })],
      mutations: [{ kind: 'pod-labels', pod: 'x/a', labels: { pod: 'a' } }],
      checks: [tcp80((r) => r.allEgress('x/a', false))] },
    { name: 'should deny egress from all pods in a namespace', policies: [policy('x/deny-egress-ns-x', {}, { egress: [] })],
      checks: [tcp80((r) => r.expectPeer({ ns: 'x' }, {}, false))] },
    { name: 'should work with Ingress, Egress specified together',
      policies: [policy('x/allow-client-a-via-pod-selector', sel({ pod: 'a' }), { ingress: [{ from: [{ podSelector: sel({ pod: 'b' }) }] }], egress: [{ ports: [{ port: 80 }] }], types: ['Egress', 'Ingress'] })],
      checks: [tcp80((r) => r.allIngress('x/a', false).expect('x/b', 'x/a', true)),
        tcp81((r) => r.allIngress('x/a', false).allEgress('x/a', false).expect('x/b', 'x/a', true))] },
    { name: 'should support denying of egress traffic on the client side (even if the server explicitly allows this traffic)',
      policies: [
        policy('x/allow-to-ns-y-pod-a', sel({ pod: 'a' }), { egress: [{ to: [{ namespaceSelector: nsSel('y'), podSelector: sel({ pod: 'a' }) }] }] }),
        policy('y/allow-from-xa-on-ya-match-selector', sel({ pod: 'a' }), { ingress: [{ from: [{ namespaceSelector: nsSel('x'), podSelector: sel({ pod: 'a' }) }] }] }),
        policy('y/allow-from-xa-on-yb-match-selector', sel({ pod: 'b' }), { ingress: [{ from: [{ namespaceSelector: nsSel('x'), podSelector: sel({ pod: 'a' }) }] }] }),
      ],
      checks: [tcp80((r) => r.expectPeer({ ns: 'x', pod: 'a' }, {}, false).expectPeer({}, { ns: 'y', pod: 'a' }, false).expectPeer({ ns: 'x', pod: 'a' }, { ns: 'y', pod: 'a' }, true).expectPeer({}, { ns: 'y', pod: 'b' }, false))] },
    { name: 'should enforce ingress policy allowing any port traffic to a server on a specific protocol',
      policies: [policy('x/allow-ingress-by-proto', sel({ pod: 'a' }), { ingress: [{ ports: [{ protocol: 'TCP' }] }] })],
      checks: [tcp80(none), { port: 80, protocol: 'UDP', expect: (r) => r.allIngress('x/a', false) }] },
    { name: 'should support a default-deny-ingress policy (UDP)', policies: [policy('x/deny-ingress', {}, { ingress: [] })],
      checks: [{ port: 81, protocol: 'UDP', expect: (r) => r.expectPeer({}, { ns: 'x' }, false) }] },
    { name: 'should enforce policy with endPort (port range 80-81 allowed from y, to x/a)',
      policies: [policy('x/allow-range-from-y', sel({ pod: 'a' }), { ingress: [{ from: [{ namespaceSelector: nsSel('y') }], ports: [{ port: 80, endPort: 81, protocol: 'TCP' }] }] })],
      checks: [tcp80((r) => r.allIngress('x/a', false).expectPeer({ ns: 'y' }, { ns: 'x', pod: 'a' }, true)), tcp81((r) => r.allIngress('x/a', false).expectPeer({ ns: 'y' }, { ns: 'x', pod: 'a' }, true))] },
    { name: 'should enforce policy with endPort (81-90 allowed: 80 denied)',
      policies: [policy('x/allow-81-90', sel({ pod: 'a' }), { ingress: [{ ports: [{ port: 81, endPort: 90 }] }] })],
      checks: [tcp81(none), tcp80((r) => r.allIngress('x/a', false))] },
    { name: 'should allow ingress from an ipBlock with except (every pod but y/a, both families)',
      policies: [policy('x/allow-cidr-except-ya', sel({ pod: 'a' }), { ingress: [{ from: [
        { ipBlock: { cidr: '10.244.0.0/16', except: [`${ip.v4['y/a']}/32`] } },
        { ipBlock: { cidr: 'fd00:10:244::/56', except: [`${ip.v6['y/a']}/128`] } },
      ] }] })],
      checks: [tcp80((r) => r.expect('y/a', 'x/a', false))] },
    { name: 'should enforce egress to an ipBlock (x/a may reach only z/c)',
      policies: [policy('x/egress-to-zc-cidr', sel({ pod: 'a' }), { egress: [{ to: [{ ipBlock: { cidr: `${ip.v4['z/c']}/32` } }, { ipBlock: { cidr: `${ip.v6['z/c']}/128` } }] }] })],
      checks: [tcp80((r) => r.allEgress('x/a', false).expect('x/a', 'z/c', true))] },
    { name: 'should enforce ingress and egress policies independently (y/b isolated both ways, z/a selects its own)',
      policies: [
        policy('y/deny-all-b', sel({ pod: 'b' }), { ingress: [], egress: [] }),
        policy('z/allow-egress-to-y', sel({ pod: 'a' }), { egress: [{ to: [{ namespaceSelector: nsSel('y') }] }] }),
      ],
      checks: [tcp80((r) => r.allIngress('y/b', false).allEgress('y/b', false).allEgress('z/a', false).expectPeer({ ns: 'z', pod: 'a' }, { ns: 'y' }, true).expect('z/a', 'y/b', false))] },
  ];
}
