// Which API server the agent talks to, and as whom: client-node's KubeConfig, loaded the way
// kubectl and in-cluster clients find it.
import os from 'node:os';
import path from 'node:path';
// client-node's modules by path: its index also loads exec, attach, cp and port-forward (ws, tar).
import { KubeConfig } from '@kubernetes/client-node/dist/config.js';

export type { KubeConfig };

/**
 * An explicit kubeconfig path; else in-cluster (service account) when running in a pod; else
 * $KUBECONFIG (colon-separated, as kubectl); else ~/.kube/config. Throws when none can be loaded.
 * A KubeConfig already loaded is returned as it is.
 */
export function loadKubeConfig(file?: string | KubeConfig): KubeConfig {
  if (file instanceof KubeConfig) return file;
  const kc = new KubeConfig();
  if (file) kc.loadFromFile(file);
  else if (process.env.KUBERNETES_SERVICE_HOST) kc.loadFromCluster();
  else if (process.env.KUBECONFIG) kc.loadFromDefault();
  else kc.loadFromFile(path.join(os.homedir(), '.kube', 'config'));
  if (!kc.getCurrentCluster()) throw new Error(`kubeconfig ${file ?? '(default)'}: no current cluster`);
  return kc;
}
