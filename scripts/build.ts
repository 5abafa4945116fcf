// npm run build: dist/bridgeway (the CNI plugin) and dist/bridgeway-agent (the node agent),
// each one self-contained executable.
import { buildExecutable } from './sea.ts';

const CLIENT_NODE = /node_modules\/@kubernetes\/client-node\//;

const targets = [
  // The plugin's cold start is every pod's start: no agent, Kubernetes client or execa in it.
  { entry: 'cni/main.ts', output: 'dist/bridgeway', forbidden: ['@kubernetes/client-node', 'execa', 'js-yaml'] },
  // --optimize-for-size: V8 keeps its heap tight; in Kubernetes mode at 5,000 Nodes the peak RSS
  // drops from ~170 to ~120 MiB (bench/AGENT.md). With it, --max-semi-space-size=1 (used before)
  // measured no different, so it went.
  // The agent's Kubernetes client is client-node's KubeConfig and ListWatch over node:http(s)
  // (daemonset/kube-http.ts). Two parts of client-node it never runs are swapped for stand-ins that
  // throw if reached: undici (client-node's own transport) and the ~800 generated model classes
  // (the agent reads API objects as plain JSON): ~10 MiB of the agent's RSS (bench/AGENT.md).
  {
    entry: 'daemonset/main.ts',
    output: 'dist/bridgeway-agent',
    execArgv: ['--optimize-for-size'],
    standIns: [
      { imports: /^undici$/, standIn: 'daemonset/stand-ins/undici.ts' },
      { imports: /\/models\/ObjectSerializer\.js$/, importer: CLIENT_NODE, standIn: 'daemonset/stand-ins/object-serializer.ts' },
      { imports: /\/models\/all\.js$/, importer: CLIENT_NODE, standIn: 'daemonset/stand-ins/no-models.ts' },
    ],
    forbidden: ['undici', '@kubernetes/client-node/dist/gen/models'],
  },
];
const only = process.argv[2];
for (const target of targets.filter((t) => !only || t.output.endsWith(only))) {
  const { bundleBytes } = await buildExecutable(target);
  process.stderr.write(`built ${target.output} (bundle ${(bundleBytes / 1024).toFixed(0)} KiB)\n`);
}
