// The agent's Kubernetes side, one import for main.ts (loaded only in Kubernetes mode: the client
// library is most of the agent's start-up). These modules, and kube-http.ts (their transport),
// are the only ones importing @kubernetes/client-node:
// - kube-config.ts: which API server, as whom (loadKubeConfig);
// - kube-node.ts (pure): a Node cut down for the informer's cache, and read as a ClusterNode;
// - kube-source.ts: the Node informer, restarted with backoff when it stops on an error;
// - kube-status.ts: the writes to the agent's own Node (annotation, condition, events);
// - kube-errors.ts: API errors as one line.
export { loadKubeConfig } from './kube-config.ts';
export { NODES_PATH, slimNode, toClusterNode } from './kube-node.ts';
export { createKubeNodeSource, type KubeOptions } from './kube-source.ts';
export { createKubeNodeApi, type KubeStatusOptions } from './kube-status.ts';
