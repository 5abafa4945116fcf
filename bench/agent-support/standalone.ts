// Standalone mode (--nodes-file) at one size: --once cold and warm, and a long-running agent
// cold, warm, with a stand-in plugin and with a JSON nodes file, each long-running one then
// timed over single changes (one node's eth1IP, by an atomic rename of the nodes file).
import fs from 'node:fs';
import { sleep } from '../../test/support/poll.ts';
import { AgentProcess, RouteMonitor } from './agent-process.ts';
import { clusterOf, movePeer, type NodeSpec } from './nodes.ts';
import type { Options } from './options.ts';
import type { Install, NodesFormat, RunResult, SizeResult } from './results.ts';
import { installTime, stopAgent, type AgentRuns } from './runs.ts';

export async function onceRun(runs: AgentRuns, specs: readonly NodeSpec[], install: Install): Promise<RunResult> {
  const node = await runs.lab.addNode();
  const { dir, nodes, args, env } = runs.prepare(install);
  try {
    nodes.write(specs);
    const agent =  new AgentProcess(runs.lab, node, runs.agent, args(['--once']), env);
    agent.pollPeak(5);
    const timeout = setTimeout(() => agent.child.kill('SIGKILL'), 120_000);
    const { code, t } = await agent.exited;
    clearTimeout(timeout);
    if (code !== 0) throw new Error(`--once at ${specs.length} nodes exited ${code}:\n${agent.logText()}`);
    const lines = agent.log.lines;
    return { install, format: 'yaml', lines, wallMs: t, installMs: installTime(lines), peak: agent.polledPeak(), changes: [], exitCode: code, ...(await runs.check(node, specs, lines)) };
  } finally {
    await runs.lab.removeNode(node);
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

export async function longRunning(runs: AgentRuns, specs: readonly NodeSpec[], install: Install, changes: number, format: NodesFormat = 'yaml'): Promise<RunResult> {
  const node = await runs.lab.addNode();
  const { dir, nodes, args, env } = runs.prepare(install, undefined, format);
  let agent: AgentProcess | undefined;
  let monitor: RouteMonitor | undefined;
  try {
    nodes.write(specs);
    agent =  new AgentProcess(runs.lab, node, runs.agent, args([]), env);
    const routes = await agent.waitForLog((l) => l.msg === 'routes changed', 'routes changed', { timeoutMs: 120_000 });
    const ready = await agent.waitForLog((l) => l.msg === 'wrote the CNI conflist', 'wrote the CNI conflist', { timeoutMs: 120_000 });
    const peak = agent.memory();
    const checked = await runs.check(node, specs, agent.log.lines);
    const result: RunResult = {
      install, format, lines: [...agent.log.lines], routesMs: routes.t, readyMs: ready.t, installMs: installTime(agent.log.lines),
      peak, changes: [], exitCode: null, ...checked,
    };
    if (checked.routeProblems.length || changes === 0) return result;

    monitor = new RouteMonitor(runs.lab, node);
    await monitor.ready(runs.lab, node);
    const current = specs.map((s) => ({ ...s }));
    for (let rep = 0; rep < changes; rep++) {
      const changed = movePeer(current, rep);
      const rename = nodes.stage(current);
      await sleep(50); // let the staging write settle; the agent does not watch that directory
      const t0 = rename();
      const event = await monitor.waitFor((l) => l.text.startsWith(`${changed.podCIDR} via ${changed.eth1IP} `), `${changed.podCIDR} via ${changed.eth1IP}`, { since: t0, timeoutMs: 10_000 });
      const logged = await agent.waitForLog((l) => l.msg === 'routes changed', 'routes changed', { since: t0, timeoutMs: 10_000 });
      const loaded = await agent.waitForLog((l) => l.msg === 'nodes file loaded', 'nodes file loaded', { since: t0, timeoutMs: 10_000 });
      result.changes.push({ kernelMs: event.at - t0, loadedMs: loaded.at - t0, loggedMs: logged.at - t0 });
      await sleep(400); // the rest of the sync (iptables-save, conflist check) finishes
    }
    result.afterChanges = agent.memory();
    result.routeProblems = (await runs.routeProblems(node, current)).map((p) => `after the changes: ${p}`);
    return result;
  } finally {
    monitor?.stop();
    await stopAgent(agent);
    await runs.lab.removeNode(node);
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

export async function measureSize(runs: AgentRuns, size: number, options: Options): Promise<SizeResult> {
  const specs = clusterOf(size);
  const onceCold = await onceRun(runs, specs, 'cold');
  const onceWarm: RunResult[] = [];
  for (let i = 0; i < options.onceRepeats; i++) onceWarm.push(await onceRun(runs, specs, 'warm'));
  const longCold = await longRunning(runs, specs, 'cold', 0);
  const longWarm = await longRunning(runs, specs, 'warm', options.changes);
  const longStub = await longRunning(runs, specs, 'stub', options.changes);
  const longWarmJson = await longRunning(runs, specs, 'warm', options.changes, 'json');
  return { size, onceCold, onceWarm, longCold, longWarm, longStub, longWarmJson };
}
