// Where the policy step learns the cluster's Pods, Namespaces and NetworkPolicies: the Kubernetes
// API (kube/policy-source.ts), or a test's fake. The objects are the API's JSON cut to model.ts.
import type { Namespace, NetworkPolicy, Pod } from './model.ts';

export interface PolicyObjects {
  pods: readonly Pod[];
  namespaces: readonly Namespace[];
  policies: readonly NetworkPolicy[];
}

export interface PolicySource {
  start(): void;
  stop(): void;
  /** Every kind has been listed since start(): only then is the view complete enough to compile. */
  synced(): boolean;
  /** Every kind's watch is open now (false while the API server is unreachable: the last view stays). */
  connected(): boolean;
  objects(): PolicyObjects;
}
