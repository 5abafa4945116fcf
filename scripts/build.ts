// npm run build: dist/bridgeway, ONE Bun executable that is both the CNI plugin and the node agent
// (bin/role.ts decides by the name it is started as), with dist/bridgeway-agent a symlink to it;
// and dist/bridgeway.cjs, the same code as one CommonJS file that the tests run on Node (the
// plugin's iproute2 backend). One runtime in the image instead of two (issue 18: ~111 MB saved).
// `--node-agent <dir>` builds, instead, the same entry as a Node single executable into <dir>, for
// bench:agent to compare the runtimes (bench/AGENT.md); it is not shipped.
// Three stages, one module each: the bundle (bundle.ts, esbuild, shared), then a Bun executable
// (bun.ts) or a Node single executable (node-sea.ts) made from it. This file says what is built,
// and with which options.
import fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { bundle, type ExecutableSpec } from './bundle.ts';
import { buildBunExecutable } from './bun.ts';
import { buildNodeExecutable } from './node-sea.ts';

const CLIENT_NODE = /node_modules\/@kubernetes\/client-node\//;

const EXECUTABLE: ExecutableSpec = {
  entry: 'bin/bridgeway.ts',
  output: 'dist/bridgeway',
  // The plugin's cold start is every pod's start: nothing of the agent (its modules, the
  // Kubernetes client, the YAML parser, execa) may load when the executable starts. The agent is
  // one dynamic import away (bin/bridgeway.ts), a chunk loaded only when it runs; the build fails
  // if a static import pulls any of it into the start.
  startForbidden: ['daemonset/', '@kubernetes/client-node', 'js-yaml', 'execa'],
  // The agent's Kubernetes client is client-node's KubeConfig and ListWatch over node:http(s)
  // (daemonset/kube/http.ts). Two parts of client-node it never runs are swapped for stand-ins that
  // throw if reached: undici (client-node's own transport) and the ~800 generated model classes
  // (the agent reads API objects as plain JSON): ~10 MiB of the agent's RSS (bench/AGENT.md).
  standIns: [
    { imports: /^undici$/, standIn: 'daemonset/stand-ins/undici.ts' },
    { imports: /\/models\/ObjectSerializer\.js$/, importer: CLIENT_NODE, standIn: 'daemonset/stand-ins/object-serializer.ts' },
    { imports: /\/models\/all\.js$/, importer: CLIENT_NODE, standIn: 'daemonset/stand-ins/no-models.ts' },
  ],
  forbidden: ['undici', '@kubernetes/client-node/dist/gen/models'],
};

// V8 flags of the Node build (bench only), each measured by bench:agent (bench/AGENT.md):
// --optimize-for-size: V8 keeps its heap tight (Kubernetes mode, 5,000 Nodes: peak ~170 -> ~120
//   MiB when it came in); --max-semi-space-size=1 next to it measured no different, so it went.
// --no-opt --no-maglev: no optimizing compiler, only the interpreter and the Sparkplug baseline.
//   The agent works in short bursts that end before optimized code pays off (5,000 nodes: peak
//   ~12 MiB lower in Kubernetes mode, ~15 MiB in standalone mode).
const NODE_EXEC_ARGV = ['--optimize-for-size', '--no-opt', '--no-maglev'];

/** `<dir>/bridgeway-agent` -> `bridgeway`: the agent's name for the one file (bin/role.ts). */
function linkAgent(executable: string): void {
  const link = path.join(path.dirname(executable), 'bridgeway-agent');
  fs.rmSync(link, { force: true });
  fs.symlinkSync(path.basename(executable), link);
}

const { values } = parseArgs({ options: { 'node-agent': { type: 'string' } } });

if (values['node-agent']) {
  // Only the bench's Node build: dist/ may be in use by others while a benchmark builds this.
  const output = path.join(values['node-agent'], 'bridgeway');
  await buildNodeExecutable({ ...EXECUTABLE, output, execArgv: NODE_EXEC_ARGV });
  linkAgent(output);
  process.stderr.write(`built ${output} on Node (+ bridgeway-agent -> bridgeway; for bench:agent, not shipped)\n`);
} else {
  const built = await buildBunExecutable(EXECUTABLE);
  linkAgent(EXECUTABLE.output);
  process.stderr.write(`built ${EXECUTABLE.output} (+ bridgeway-agent -> bridgeway; bundle ${(built.bundleBytes / 1024).toFixed(0)} KiB, ${(built.startBytes / 1024).toFixed(0)} KiB of it loaded at start)\n`);
  await bundle(EXECUTABLE);
  process.stderr.write(`built ${EXECUTABLE.output}.cjs (the same code for Node)\n`);
}
