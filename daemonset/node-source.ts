// Where the agent learns about nodes: the Kubernetes API (kube.ts) or a file (nodes-file.ts).
import type { ClusterNode } from './node-info.ts';

export interface NodeSource {
  start(): void;
  stop(): void;
  /** The current view of every node. */
  nodes(): ClusterNode[];
  /** True while the view is trustworthy (informer listed and watching; file parsed). */
  connected(): boolean;
}
