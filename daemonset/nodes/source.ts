// Where the agent learns about nodes: the Kubernetes API (kube/) or a file (file-source.ts).
import type { ClusterNode } from './peers.ts';

export interface NodeSource {
  start(): void;
  stop(): void;
  /** The current view of every node. */
  nodes(): ClusterNode[];
  /** True while the view is trustworthy (informer listed and watching; file parsed). */
  connected(): boolean;
}

/** What the agent writes back to the Kubernetes API (absent in standalone mode). */
export interface NodeStatusApi {
  /**
   * Sets metadata.annotations[annotation] (default bridgeway.io/eth1-ip; bridgeway.io/eth1-ipv6
   * for the IPv6 address), unless it already has that value.
   */
  publishEth1Address(nodeName: string, ip: string, annotation?: string): Promise<void>;
  /** The NetworkUnavailable condition, as flannel and calico set it. */
  setNetworkUnavailable(nodeName: string, unavailable: boolean, message: string): Promise<void>;
  /**
   * A Kubernetes Event on the Node (involvedObject kind Node), for what an admin must act on,
   * e.g. a conflist the runtime will reject. Repeats of one reason may be collapsed.
   */
  recordNodeEvent(nodeName: string, event: { type: 'Normal' | 'Warning'; reason: string; message: string }): Promise<void>;
}
