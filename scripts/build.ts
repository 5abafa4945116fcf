// npm run build: dist/bridgeway (the CNI plugin) and dist/bridgeway-agent (the node agent),
// each one self-contained executable.
import { buildExecutable } from './sea.ts';

const targets = [
  // The plugin's cold start is every pod's start: no agent, Kubernetes client or execa in it.
  { entry: 'cni/main.ts', output: 'dist/bridgeway', forbidden: ['@kubernetes/client-node', 'execa', 'js-yaml'] },
  // --optimize-for-size: V8 keeps its heap tight; in Kubernetes mode at 5,000 Nodes the peak RSS
  // drops from ~170 to ~120 MiB (bench/AGENT.md). With it, --max-semi-space-size=1 (used before)
  // measured no different, so it went.
  { entry: 'daemonset/main.ts', output: 'dist/bridgeway-agent', execArgv: ['--optimize-for-size'] },
];
const only = process.argv[2];
for (const target of targets.filter((t) => !only || t.output.endsWith(only))) {
  const { bundleBytes } = await buildExecutable(target);
  process.stderr.write(`built ${target.output} (bundle ${(bundleBytes / 1024).toFixed(0)} KiB)\n`);
}
