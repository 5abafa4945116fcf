// What the policy compiler reads: the fields of Pods, Namespaces and NetworkPolicies
// (networking.k8s.io/v1) that decide a verdict, in the API's own JSON shape, so the agent can
// hand its informers' objects over as they are (cut down to these fields). Nothing else of ours.

export type Protocol = 'TCP' | 'UDP' | 'SCTP';
export type PolicyType = 'Ingress' | 'Egress';
export type Direction = 'ingress' | 'egress';

export interface LabelSelectorRequirement {
  key: string;
  operator: 'In' | 'NotIn' | 'Exists' | 'DoesNotExist';
  values?: readonly string[];
}

/** metav1.LabelSelector: matchLabels and matchExpressions are ANDed; `{}` selects everything. */
export interface LabelSelector {
  matchLabels?: Readonly<Record<string, string>>;
  matchExpressions?: readonly LabelSelectorRequirement[];
}

export interface IPBlock {
  cidr: string;
  except?: readonly string[];
}

/** One entry of `from`/`to`: selectors (either or both), or an ipBlock alone. */
export interface NetworkPolicyPeer {
  podSelector?: LabelSelector;
  namespaceSelector?: LabelSelector;
  ipBlock?: IPBlock;
}

export interface NetworkPolicyPort {
  /** TCP when absent. */
  protocol?: Protocol;
  /** A number, or the name of a container port; absent: every port of the protocol. */
  port?: number | string;
  /** With a numeric `port`: the last port of the range, inclusive. */
  endPort?: number;
}

export interface NetworkPolicyIngressRule {
  from?: readonly NetworkPolicyPeer[];
  ports?: readonly NetworkPolicyPort[];
}

export interface NetworkPolicyEgressRule {
  to?: readonly NetworkPolicyPeer[];
  ports?: readonly NetworkPolicyPort[];
}

export interface NetworkPolicy {
  metadata: { namespace: string; name: string };
  spec: {
    podSelector: LabelSelector;
    policyTypes?: readonly PolicyType[];
    ingress?: readonly NetworkPolicyIngressRule[];
    egress?: readonly NetworkPolicyEgressRule[];
  };
}

export interface ContainerPort {
  name?: string;
  containerPort: number;
  /** TCP when absent. */
  protocol?: Protocol;
}

export interface Pod {
  metadata: { namespace: string; name: string; labels?: Readonly<Record<string, string>> };
  spec: {
    nodeName?: string;
    hostNetwork?: boolean;
    containers?: readonly { ports?: readonly ContainerPort[] }[];
    initContainers?: readonly { ports?: readonly ContainerPort[] }[];
  };
  status?: { phase?: string; podIPs?: readonly { ip: string }[]; podIP?: string };
}

export interface Namespace {
  metadata: { name: string; labels?: Readonly<Record<string, string>> };
}

/** Everything one compile reads: the cluster's objects and which node is this one. */
export interface PolicyInput {
  pods: readonly Pod[];
  namespaces: readonly Namespace[];
  policies: readonly NetworkPolicy[];
  nodeName: string;
}

/** One rule of one policy: `<namespace>/<name>` and which of its ingress or egress rules. */
export interface RuleRef {
  policy: string;
  direction: Direction;
  index: number;
}

export function ruleRefText(ref: RuleRef): string {
  return `${ref.policy} ${ref.direction}[${ref.index}]`;
}

export function policyKey(policy: NetworkPolicy): string {
  return `${policy.metadata.namespace}/${policy.metadata.name}`;
}

export function podKey(pod: Pod): string {
  return `${pod.metadata.namespace}/${pod.metadata.name}`;
}
