// npm run build: dist/bridgeway (the CNI plugin, on Bun) and dist/bridgeway-agent (the node
// agent, on Node), each one self-contained executable. Three stages, one module each: the
// bundle (bundle.ts, esbuild, shared), then a Bun executable (bun.ts) or a Node single
// executable (node-sea.ts) made from it. This file says what is built, and with which options.
import type { ExecutableSpec } from './bundle.ts';
import { buildBunExecutable } from './bun.ts';
import { buildNodeExecutable } from './node-sea.ts';

const CLIENT_NODE = /node_modules\/@kubernetes\/client-node\//;

const targets: (ExecutableSpec & { runtime?: 'bun' })[] = [
  // The plugin's cold start is every pod's start: Bun (scripts/bun.ts), and no agent, Kubernetes
  // client or execa in it.
  { entry: 'cni/main.ts', output: 'dist/bridgeway', runtime: 'bun', forbidden: ['@kubernetes/client-node', 'execa', 'js-yaml'] },
  // V8 flags, each measured by bench:agent (bench/AGENT.md):
  // --optimize-for-size: V8 keeps its heap tight (Kubernetes mode, 5,000 Nodes: peak ~170 -> ~120
  //   MiB when it came in); --max-semi-space-size=1 next to it measured no different, so it went.
  // --no-opt --no-maglev: no optimizing compiler, only the interpreter and the Sparkplug baseline.
  //   The agent works in short bursts that end before optimized code pays off. At 5,000 nodes,
  //   Kubernetes mode peaks ~12 MiB lower (94-99 -> 82-85 MiB) and standalone mode ~15 MiB lower
  //   (92 -> 76 MiB); convergence and Kubernetes-mode change latency stay within the benchmark's
  //   noise. The one cost is JS-heavy parsing: a 5,000-node YAML nodes file loads in ~98 ms
  //   instead of ~66 (a JSON one in ~24 ms either way).
  // The agent's Kubernetes client is client-node's KubeConfig and ListWatch over node:http(s)
  // (daemonset/kube/http.ts). Two parts of client-node it never runs are swapped for stand-ins that
  // throw if reached: undici (client-node's own transport) and the ~800 generated model classes
  // (the agent reads API objects as plain JSON): ~10 MiB of the agent's RSS (bench/AGENT.md).
  {
    entry: 'daemonset/main.ts',
    output: 'dist/bridgeway-agent',
    execArgv: ['--optimize-for-size', '--no-opt', '--no-maglev'],
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
  const { bundleBytes } = await (target.runtime === 'bun' ? buildBunExecutable : buildNodeExecutable)(target);
  process.stderr.write(`built ${target.output} (bundle ${(bundleBytes / 1024).toFixed(0)} KiB)\n`);
}
