// npm run bench:agent — the node agent (dist/bridgeway run as bridgeway-agent; by default also the
// same code built for Node, side by side: --agents) inside a throw-away node namespace
// whose eth1 is 192.168.0.1/16, at 10, 1,000 and 5,000 nodes, in two modes.
// Standalone mode (--nodes-file):
//   1. convergence: --once wall time, and a long-running agent's time to "routes changed"
//      (routes in the kernel) and to "wrote the CNI conflist" (ready); routes checked one by one;
//   2. single-change latency: one node's eth1IP changed by an atomic rename of the nodes file,
//      timed from the rename to the route's event in `ip monitor route` (--resync 10m, so this
//      is the fs.watch path, not the periodic resync);
//   3. peak RSS (VmHWM of the agent process);
//   4. iptables rules in the node namespace (must not grow with N);
// each with the plugin install cold (empty --cni-bin-dir: the agent copies the 111 MB plugin),
// warm (an identical copy already there) and, long-running, with a 1 KiB stand-in plugin (no
// install cost at all) and warm with the nodes file in JSON instead of YAML (what the YAML parser
// costs). Then where the time goes (the agent's log lines, and each step timed alone).
// Kubernetes mode (--kubeconfig; what real deployments run): the fake API server runs in this
// process with N Nodes shaped like kubelet's (~12 KB of JSON each, agent-support/kube-nodes.ts),
// relayed into the node namespace; the plugin already installed (warm). Convergence, peak RSS,
// one Node's bridgeway.io/eth1-ip changed (watch event -> route in `ip monitor`), and how many
// syncs status-only updates (kubelet heartbeats, image pulls) cause.
// A benchmark, not a test: exits 0 whether targets are met or missed, 1 when something failed
// (including wrong routes). Needs root; creates only namespaces, all removed on exit and SIGINT.
// Options: --sizes 10,1000,5000 (BENCH_AGENT_SIZES), --changes 10 (BENCH_AGENT_CHANGES: per
//          size; in kube mode also the number of status-only updates), --once-repeats 3
//          (BENCH_AGENT_ONCE_REPEATS: warm --once runs per size), --modes standalone,kube
//          (BENCH_AGENT_MODES: either alone, or both), --agents bun,node (BENCH_AGENT_AGENTS: the
//          builds to compare, alternating at every size: bun = dist/bridgeway, node = the bench's
//          Node build, or name=path), --policies 20 (BENCH_AGENT_POLICIES: Kubernetes mode's
//          NetworkPolicies; a list such as 1000,0,off runs each as its own agent beside the builds,
//          alternating at every size; off = BRIDGEWAY_NETWORK_POLICY=false with the largest count
//          served). A size given twice (--sizes 5000,5000,5000) repeats it: A,B,C,A,B,C.
// This file only runs the modes in order; agent-support/ holds the parts: options.ts, dist.ts
// (the executables), runs.ts (what every run shares), standalone.ts and kube-mode.ts (the
// measurements), phases.ts (each step alone), report*.ts (the tables and targets).
import os from 'node:os';
import path from 'node:path';
import { AgentLab, run } from './agent-support/lab.ts';
import { ensureBuilt, ROOT } from './agent-support/dist.ts';
import { measureKube } from './agent-support/kube-mode.ts';
import { clusterOf } from './agent-support/nodes.ts';
import { parseOptions } from './agent-support/options.ts';
import { syncSteps } from './agent-support/phases.ts';
import { reportBuilds, type BuildResults } from './agent-support/report-builds.ts';
import { reportKube } from './agent-support/report-kube.ts';
import { reportVariants } from './agent-support/report-variants.ts';
import { reportStandalone } from './agent-support/report-standalone.ts';
import { out } from './agent-support/report.ts';
import type { SpawnRow } from './agent-support/results.ts';
import { AgentRuns } from './agent-support/runs.ts';
import { measureSize } from './agent-support/standalone.ts';

const SPAWN_PROBE = path.join(ROOT, 'bench/agent-support/spawn-probe.ts');
const loadAtStart = os.loadavg()[0]!;

async function main(): Promise<number> {
  const options = parseOptions();
  if (process.getuid?.() !== 0) {
    process.stderr.write('bench:agent needs root (network namespaces, routes and iptables inside them)\n');
    return 1;
  }
  const files = ensureBuilt(options.agents);
  const started = performance.now();
  const lab = await AgentLab.create();
  const onSignal = (signal: NodeJS.Signals) => {
    process.stderr.write(`\n${signal}: removing ${lab.prefix}-* namespaces and ${lab.dir}\n`);
    lab.cleanup();
    process.exit(130);
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    // One AgentRuns per build; at every size the builds run one after the other, so they share the load.
    const builds = options.agents.map((a) => new AgentRuns(lab, a.name, files.get(a.name)!));
    const results: BuildResults[] = builds.map((b) => ({ name: b.name, standalone: [], kube: [] }));
    const failures: string[] = [];
    const targets: string[] = [];
    let variantResults: BuildResults[] | undefined;
    const label = (name: string) => (builds.length > 1 ? `[${name}] ` : '');
    if (options.modes.includes('standalone')) {
      for (const size of options.sizes) {
        for (const [i, runs] of builds.entries()) {
          process.stderr.write(`${label(runs.name)}${size} nodes: --once cold, ${options.onceRepeats}x warm; long-running cold, warm, stub and warm with a JSON file (+${options.changes} changes each) ...\n`);
          results[i]!.standalone.push(await measureSize(runs, size, options));
        }
      }
      process.stderr.write('timing each step alone, and the installer ...\n');
      const steps = await syncSteps(lab, Math.max(...options.sizes), builds[0]!.agent);
      const spawns = JSON.parse((await run([process.execPath, SPAWN_PROBE])).stdout) as SpawnRow[];
      for (const [i, runs] of builds.entries()) {
        out(`\n===== ${runs.name}: ${files.get(runs.name)} =====`);
        const standalone = reportStandalone(options, results[i]!.standalone, steps, spawns, loadAtStart);
        failures.push(...standalone.failures.map((f) => label(runs.name) + f));
        targets.push(...standalone.targets.map((t) => label(runs.name) + t));
      }
    }
    if (options.modes.includes('kube')) {
      // Each policy variant is one more agent beside the builds (named build-p<variant>).
      const variants = options.policies;
      const kubeBuilds = variants.length === 1 ? builds.map((runs) => ({ runs, variant: variants[0]!, file: files.get(runs.name)! }))
        : builds.flatMap((b) => variants.map((variant) => ({ runs: new AgentRuns(lab, `${b.name}-p${variant.name}`, files.get(b.name)!), variant, file: files.get(b.name)! })));
      // With variants, their results are reported side by side apart from the builds' standalone ones.
      const kubeResults: BuildResults[] = variants.length === 1 ? results : kubeBuilds.map(({ runs }) => ({ name: runs.name, standalone: [], kube: [] }));
      if (kubeResults !== results) variantResults = kubeResults;
      const kubeLabel = (name: string) => (kubeBuilds.length > 1 ? `[${name}] ` : '');
      for (const size of options.sizes) {
        for (const [i, { runs, variant }] of kubeBuilds.entries()) {
          process.stderr.write(`${kubeLabel(runs.name)}${size} nodes, Kubernetes mode, ${variant.enforce ? `${variant.policies} policies` : `enforcement off (${variant.policies} policies served)`}: long-running warm (+${options.changes} changes, +${options.changes} status-only updates) ...\n`);
          kubeResults[i]!.kube.push(await measureKube(runs, clusterOf(size), options.changes, options.podsPerNode, variant));
        }
      }
      for (const [i, { runs, file }] of kubeBuilds.entries()) {
        out(`\n===== ${runs.name}: ${file} =====`);
        const kube = reportKube(options, kubeResults[i]!.kube);
        failures.push(...kube.failures.map((f) => kubeLabel(runs.name) + f));
        targets.push(...kube.targets.map((t) => kubeLabel(runs.name) + t));
      }
      reportVariants(kubeResults);
    }
    reportBuilds(results);
    if (variantResults) reportBuilds(variantResults);
    out('\nTargets:');
    for (const line of targets) out(`  ${line}`);
    out(`\n(${((performance.now() - started) / 1000).toFixed(0)} s)`);
    return failures.length ? 1 : 0;
  } finally {
    for (const problem of lab.cleanup()) process.stderr.write(`cleanup: ${problem}\n`);
  }
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    process.stderr.write(`bench:agent: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exit(1);
  },
);
