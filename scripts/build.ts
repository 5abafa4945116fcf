// npm run build: dist/bridgeway, the CNI plugin as one self-contained executable.
import { buildExecutable } from './sea.ts';

const { bundleBytes } = await buildExecutable({
  entry: 'cni/main.ts',
  output: 'dist/bridgeway',
  // The plugin's cold start is every pod's start: no agent, Kubernetes client or execa in it.
  forbidden: ['@kubernetes/client-node', 'execa'],
});
process.stderr.write(`built dist/bridgeway (bundle ${(bundleBytes / 1024).toFixed(0)} KiB)\n`);
