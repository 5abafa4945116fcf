// NetworkPolicies resolved against the cluster's pods and namespaces: which of this node's pods
// each policy isolates, for which directions, and each rule's peers (addresses) and ports, with
// the API's semantics spelled out once here (networking.k8s.io/v1, and apimachinery's defaults):
//   - policyTypes absent: Ingress always, Egress when spec.egress has at least one rule
//     (SetDefaults_NetworkPolicy). A type without rules is that direction's default deny.
//   - spec.podSelector `{}`: every pod of the policy's namespace.
//   - a rule's from/to absent or empty: every source/destination (so every address, pods or not);
//     its ports absent or empty: every port of every protocol (ICMP too).
//   - a peer: podSelector alone = pods of the policy's namespace; namespaceSelector alone = every
//     pod of the matching namespaces; both = the matching pods of the matching namespaces;
//     ipBlock alone = the CIDR minus its excepts, compared with any address (pod or not).
//   - a port: protocol TCP when absent; no `port` = every port of the protocol; endPort makes a
//     numeric port a range; a named port is resolved on the pod serving it: the target for
//     ingress, the destination for egress, by name and protocol among its containers' ports.
// Pods that cannot be told apart by address are left out, as target and as peer: hostNetwork pods
// (they use the node's address), pods without an address, and finished pods (their address may
// already belong to another pod). A policy that cannot be compiled still isolates what it selects
// and allows nothing (fail closed), and is reported.
import { familyBits, parseCidr, parseIp, type IpAddress, type IpCidr } from '../../lib/cidr.ts';
import type { Direction, LabelSelector, Namespace, NetworkPolicy, NetworkPolicyPeer, NetworkPolicyPort, Pod, PolicyInput, Protocol, RuleRef } from './model.ts';
import { podKey, policyKey } from './model.ts';
import { cidrRange, subtractRanges, unionRanges, type AddressRange, type PortRange } from './ranges.ts';
import { matchesSelector, validateSelector } from './selector.ts';

export const PROTOCOL_NUMBER: Record<Protocol, number> = { TCP: 6, UDP: 17, SCTP: 132 };

/** A pod that policies can select or name as a peer. */
export interface PolicyPod {
  key: string;
  namespace: string;
  labels: Readonly<Record<string, string>>;
  ips: readonly IpAddress[];
  /** `family:value` of each address, in the order of `ips`: the compiler's keys, made once. */
  ipKeys: readonly string[];
  local: boolean;
  /** Its containers' ports by `name/protocolNumber` -> port number. */
  namedPorts: ReadonlyMap<string, number>;
}

export type PortSpec = { kind: 'range'; range: PortRange } | { kind: 'named'; proto: number; name: string };

export interface ResolvedRule {
  ref: RuleRef;
  /** Pods matched by the rule's selectors, anywhere in the cluster. */
  pods: readonly PolicyPod[];
  /** Addresses matched by ipBlocks, or everything for a rule without from/to; sorted, disjoint. */
  blocks: readonly AddressRange[];
  /** undefined: every port of every protocol. */
  ports?: readonly PortSpec[];
}

export interface ResolvedPolicy {
  key: string;
  directions: ReadonlySet<Direction>;
  /** This node's pods it selects. */
  targets: readonly PolicyPod[];
  rules: readonly ResolvedRule[];
}

export interface PolicyError {
  policy: string;
  message: string;
}

export class PolicyCompileError extends Error {
  override name = 'PolicyCompileError';
}

export interface Resolved {
  policies: ResolvedPolicy[];
  /** Every pod with an address, this node's and the others'. */
  pods: PolicyPod[];
  errors: PolicyError[];
}

export const EVERYTHING: readonly AddressRange[] = [
  { family: 4, first: 0n, last: (1n << 32n) - 1n },
  { family: 6, first: 0n, last: (1n << 128n) - 1n },
];

const FINISHED = new Set(['Succeeded', 'Failed']);
// IANA_SVC_NAME (validation.IsValidPortName): 1-15 of a-z, 0-9, '-', at least one letter, no
// leading, trailing or doubled '-'.
const PORT_NAME = /^(?=.*[a-z])[a-z0-9](?:[a-z0-9]|-(?=[a-z0-9])){0,14}$/;

function podIps(pod: Pod): IpAddress[] {
  const texts = pod.status?.podIPs?.map((p) => p.ip) ?? (pod.status?.podIP ? [pod.status.podIP] : []);
  const ips: IpAddress[] = [];
  for (const text of texts) {
    const ip = parseIp(text);
    if (ip && !ips.some((i) => i.family === ip.family && i.value === ip.value)) ips.push(ip);
  }
  return ips;
}

function protocolNumber(protocol: unknown): number {
  const p = protocol ?? 'TCP';
  if (typeof p !== 'string' || !Object.hasOwn(PROTOCOL_NUMBER, p)) throw new PolicyCompileError(`unknown protocol ${JSON.stringify(protocol)} (TCP, UDP or SCTP)`);
  return PROTOCOL_NUMBER[p as Protocol];
}

export function policyPods(input: PolicyInput): PolicyPod[] {
  const pods: PolicyPod[] = [];
  for (const pod of input.pods) {
    if (pod.spec.hostNetwork || FINISHED.has(pod.status?.phase ?? '')) continue;
    const ips = podIps(pod);
    if (ips.length === 0) continue;
    const namedPorts = new Map<string, number>();
    for (const container of [...(pod.spec.containers ?? []), ...(pod.spec.initContainers ?? [])]) {
      for (const port of container.ports ?? []) {
        if (!port.name || !Object.hasOwn(PROTOCOL_NUMBER, port.protocol ?? 'TCP')) continue;
        const key = `${port.name}/${PROTOCOL_NUMBER[port.protocol ?? 'TCP']}`;
        if (!namedPorts.has(key)) namedPorts.set(key, port.containerPort);
      }
    }
    pods.push({ key: podKey(pod), namespace: pod.metadata.namespace, labels: pod.metadata.labels ?? {}, ips, ipKeys: ips.map((ip) => `${ip.family}:${ip.value}`), local: pod.spec.nodeName === input.nodeName, namedPorts });
  }
  return pods;
}

function ipBlockRanges(block: { cidr: string; except?: readonly string[] }): AddressRange[] {
  const cidr = parseCidr(block.cidr);
  if (!cidr) throw new PolicyCompileError(`ipBlock cidr ${JSON.stringify(block.cidr)} is not a CIDR`);
  const holes = (block.except ?? []).map((text) => {
    const hole = parseCidr(text);
    if (!hole) throw new PolicyCompileError(`ipBlock except ${JSON.stringify(text)} is not a CIDR`);
    if (!strictlyInside(hole, cidr)) throw new PolicyCompileError(`ipBlock except ${text} is not a strict subset of ${block.cidr}`);
    return cidrRange(hole);
  });
  return subtractRanges([cidrRange(cidr)], holes);
}

function strictlyInside(inner: IpCidr, outer: IpCidr): boolean {
  if (inner.family !== outer.family || inner.prefixLength <= outer.prefixLength) return false;
  const shift = BigInt(familyBits(outer.family) - outer.prefixLength);
  return inner.address >> shift === outer.address >> shift;
}

function portSpec(port: NetworkPolicyPort): PortSpec {
  const proto = protocolNumber(port.protocol);
  if (port.port === undefined || port.port === null) {
    if (port.endPort !== undefined) throw new PolicyCompileError('endPort needs a numeric port');
    return { kind: 'range', range: { proto, first: 0, last: 65535 } };
  }
  if (typeof port.port === 'string') {
    if (port.endPort !== undefined) throw new PolicyCompileError(`endPort cannot be used with the named port ${JSON.stringify(port.port)}`);
    if (!PORT_NAME.test(port.port)) throw new PolicyCompileError(`port ${JSON.stringify(port.port)} is neither a number nor a port name`);
    return { kind: 'named', proto, name: port.port };
  }
  if (!Number.isInteger(port.port) || port.port < 1 || port.port > 65535) throw new PolicyCompileError(`port ${port.port} is not in 1-65535`);
  const last = port.endPort ?? port.port;
  if (!Number.isInteger(last) || last < port.port || last > 65535) throw new PolicyCompileError(`endPort ${port.endPort} is not in ${port.port}-65535`);
  return { kind: 'range', range: { proto, first: port.port, last } };
}

function checkSelector(selector: LabelSelector | undefined, what: string): void {
  if (selector === undefined) return;
  try {
    validateSelector(selector);
  } catch (error) {
    throw new PolicyCompileError(`${what}: ${(error as Error).message}`);
  }
}

/**
 * Which pods and namespaces a selector matches, each selector evaluated once per compile: a
 * thousand policies naming the same namespace or labels cost one pass over the pods, not a
 * thousand (the pods are indexed by namespace, so a namespaceSelector visits only its namespaces).
 */
export class Selection {
  private readonly byNamespace = new Map<string, PolicyPod[]>();
  private readonly namespaceCache = new Map<string, string[]>();
  private readonly podCache = new Map<string, PolicyPod[]>();
  private readonly peersCache = new Map<string, readonly PolicyPod[]>();
  private readonly namespaces: ReadonlyMap<string, Namespace>;

  constructor(pods: readonly PolicyPod[], namespaces: ReadonlyMap<string, Namespace>) {
    this.namespaces = namespaces;
    for (const pod of pods) {
      const list = this.byNamespace.get(pod.namespace);
      if (list) list.push(pod);
      else this.byNamespace.set(pod.namespace, [pod]);
    }
  }

  /** Namespaces (with pods) whose labels match; a namespace without its object has no labels. */
  namespacesMatching(selector: LabelSelector): string[] {
    const key = JSON.stringify(selector);
    let names = this.namespaceCache.get(key);
    if (!names) {
      names = [...this.byNamespace.keys()].filter((name) => matchesSelector(selector, this.namespaces.get(name)?.metadata.labels));
      this.namespaceCache.set(key, names);
    }
    return names;
  }

  /** Pods of `namespace` matching `selector` (all of them when it is undefined). */
  podsMatching(namespace: string, selector: LabelSelector | undefined): readonly PolicyPod[] {
    const pods = this.byNamespace.get(namespace) ?? [];
    if (!selector) return pods;
    const key = `${namespace}\n${JSON.stringify(selector)}`;
    let matched = this.podCache.get(key);
    if (!matched) {
      matched = pods.filter((p) => matchesSelector(selector, p.labels));
      this.podCache.set(key, matched);
    }
    return matched;
  }

  /**
   * The pods a rule's selector peers (no ipBlock) match together, from `namespace`'s point of
   * view. One list per distinct peers, shared by every rule that names them (read-only): a
   * thousand rules naming a team's namespace hold one list of its pods, not a thousand copies.
   */
  podsOfPeers(namespace: string, peers: readonly NetworkPolicyPeer[]): readonly PolicyPod[] {
    // The policy's namespace matters only to a peer without a namespaceSelector.
    const key = `${peers.every((p) => p.namespaceSelector) ? '' : namespace}\n${JSON.stringify(peers)}`;
    let pods = this.peersCache.get(key);
    if (!pods) {
      const lists = peers.flatMap(({ podSelector, namespaceSelector }) =>
        (namespaceSelector ? this.namespacesMatching(namespaceSelector) : [namespace]).map((ns) => this.podsMatching(ns, podSelector)));
      // One namespace's list as it is; one peer's namespaces are distinct, so their lists are
      // disjoint; several peers: their union, each pod once.
      pods = lists.length === 1 ? lists[0]! : peers.length === 1 ? lists.flat() : [...new Set(lists.flat())];
      this.peersCache.set(key, pods);
    }
    return pods;
  }
}

/** The pods and the address ranges one rule's peers stand for. */
function resolvePeers(peers: readonly NetworkPolicyPeer[] | undefined, namespace: string, selection: Selection): { pods: readonly PolicyPod[]; blocks: AddressRange[] } {
  if (!peers || peers.length === 0) return { pods: [], blocks: [...EVERYTHING] };
  const selectors: NetworkPolicyPeer[] = [];
  const blocks: AddressRange[] = [];
  for (const peer of peers) {
    const { podSelector, namespaceSelector, ipBlock } = peer;
    if (ipBlock) {
      if (podSelector || namespaceSelector) throw new PolicyCompileError('a peer with ipBlock can have no podSelector or namespaceSelector');
      blocks.push(...ipBlockRanges(ipBlock));
      continue;
    }
    if (!podSelector && !namespaceSelector) throw new PolicyCompileError('a peer needs podSelector, namespaceSelector or ipBlock');
    checkSelector(podSelector, 'podSelector');
    checkSelector(namespaceSelector, 'namespaceSelector');
    selectors.push(peer);
  }
  return { pods: selectors.length ? selection.podsOfPeers(namespace, selectors) : [], blocks: unionRanges(blocks) };
}

function policyDirections(policy: NetworkPolicy): Set<Direction> {
  const types = policy.spec.policyTypes;
  if (!types || types.length === 0) return new Set<Direction>(['ingress', ...((policy.spec.egress?.length ?? 0) > 0 ? ['egress' as const] : [])]);
  const directions = new Set<Direction>();
  for (const type of types) {
    if (type === 'Ingress') directions.add('ingress');
    else if (type === 'Egress') directions.add('egress');
    else throw new PolicyCompileError(`unknown policyType ${JSON.stringify(type)} (Ingress or Egress)`);
  }
  return directions;
}

function resolvePolicy(policy: NetworkPolicy, selection: Selection): ResolvedPolicy {
  const key = policyKey(policy);
  const namespace = policy.metadata.namespace;
  checkSelector(policy.spec.podSelector, 'spec.podSelector');
  const directions = policyDirections(policy);
  const targets = selection.podsMatching(namespace, policy.spec.podSelector ?? {}).filter((p) => p.local);
  const rules: ResolvedRule[] = [];
  const sides: [Direction, readonly { peers?: readonly NetworkPolicyPeer[]; ports?: readonly NetworkPolicyPort[] }[]][] = [
    ['ingress', (policy.spec.ingress ?? []).map((r) => ({ peers: r.from, ports: r.ports }))],
    ['egress', (policy.spec.egress ?? []).map((r) => ({ peers: r.to, ports: r.ports }))],
  ];
  for (const [direction, list] of sides) {
    // Rules of a direction the policy does not declare are ignored, as the API documents.
    if (!directions.has(direction)) continue;
    list.forEach((rule, index) => {
      const ref = { policy: key, direction, index };
      try {
        const peers = resolvePeers(rule.peers, namespace, selection);
        const ports = rule.ports && rule.ports.length > 0 ? rule.ports.map(portSpec) : undefined;
        rules.push({ ref, ...peers, ...(ports ? { ports } : {}) });
      } catch (error) {
        if (error instanceof PolicyCompileError) throw new PolicyCompileError(`${direction}[${index}]: ${error.message}`);
        throw error;
      }
    });
  }
  return { key, directions, targets, rules };
}

/** Every policy resolved; a policy that fails isolates (fail closed) and is named in `errors`. */
/** `checkpoint`: called after the pods and after each policy (compile.ts's CompileOptions.checkpoint). */
export function resolvePolicies(input: PolicyInput, checkpoint: () => void = () => {}): Resolved {
  const pods = policyPods(input);
  checkpoint();
  const selection = new Selection(pods, new Map(input.namespaces.map((n) => [n.metadata.name, n])));
  const policies: ResolvedPolicy[] = [];
  const errors: PolicyError[] = [];
  for (const policy of input.policies) {
    try {
      policies.push(resolvePolicy(policy, selection));
    } catch (error) {
      if (!(error instanceof PolicyCompileError)) throw error;
      const key = policyKey(policy);
      errors.push({ policy: key, message: error.message });
      policies.push(failClosed(policy, key, pods));
    }
    checkpoint();
  }
  return { policies, pods, errors };
}

/**
 * What a policy that cannot be compiled still does: isolate the pods it selects (all pods of its
 * namespace when its podSelector itself is wrong) for the directions it declares (both when those
 * are wrong), allowing nothing. Never "allow everything".
 */
function failClosed(policy: NetworkPolicy, key: string, pods: readonly PolicyPod[]): ResolvedPolicy {
  let selects = (p: PolicyPod) => p.namespace === policy.metadata.namespace;
  try {
    validateSelector(policy.spec.podSelector ?? {});
    const selector = policy.spec.podSelector ?? {};
    selects = (p) => p.namespace === policy.metadata.namespace && matchesSelector(selector, p.labels);
  } catch { /* every pod of the namespace */ }
  let directions: Set<Direction>;
  try {
    directions = policyDirections(policy);
  } catch {
    directions = new Set(['ingress', 'egress']);
  }
  return { key, directions, targets: pods.filter((p) => p.local && selects(p)), rules: [] };
}
