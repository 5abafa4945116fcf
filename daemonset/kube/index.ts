// The agent's Kubernetes side, one import for main.ts (loaded only in Kubernetes mode: the client
// library is most of the agent's start-up). These modules, and http.ts (their transport),
// are the only ones importing @kubernetes/client-node:
// - config.ts: which API server, as whom (loadKubeConfig);
// - node.ts (pure): a Node cut down for the informer's cache, and read as a ClusterNode;
// - informer.ts: the Node informer, restarted with backoff when it stops on an error;
// - status.ts: the writes to the agent's own Node (annotation, condition, events);
// - node-cleanup.ts: uninstall's removal of what status.ts wrote (annotations, condition);
// - errors.ts: API errors as one line.
export { loadKubeConfig } from './config.ts';
export { NODES_PATH, slimNode, toClusterNode } from './node.ts';
export { createKubeNodeSource, type KubeOptions } from './informer.ts';
export { createKubeNodeApi, type KubeStatusOptions } from './status.ts';
export { createNodeCleanup, type NodeCleanupApi } from './node-cleanup.ts';
