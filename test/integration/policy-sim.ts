// What the NetworkPolicy simulations share (policy-agent, policy-restart, ovs-policy): pods
// made by the real plugin and posted to the fake API server as Pod objects with their addresses
// and named container ports, their servers (policy-probe.ts serve), the test namespaces' objects,
// and a node's real agent started in Kubernetes mode against the fake API server, and the
// server with every node's agent around a test (withPolicyAgents).
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { SYSTEM_PATH } from '../../lib/exec.ts';
import { AGENT, eventually, type SimCluster, type SimNode } from '../support/cluster.ts';
import { makeNode, startFakeApiServer, type FakeApiServer, type JsonObject } from '../support/fake-apiserver.ts';
import { relayInto, type ApiRelay } from '../support/api-relay.ts';
import { kubeAgentArgs } from '../fixtures/kube-agent.ts';
import { NS_LABEL } from '../fixtures/netpol-cases.ts';

export const PROBE = path.join(import.meta.dirname, 'policy-probe.ts');
/** Each pod's TCP echo port: a connection kept open (policy-probe.ts hold). */
export const ECHO_PORT = 8080;

export interface SimPod { ref: string; node: SimNode; netns: string; v4: string; v6: string; labels: Record<string, string> }

const namedPorts = [80, 81].flatMap((port) => (['TCP', 'UDP'] as const).map((protocol) => ({ name: `serve-${port}-${protocol.toLowerCase()}`, containerPort: port, protocol })));

export function podObject(pod: SimPod): JsonObject {
  const [namespace, name] = pod.ref.split('/') as [string, string];
  return {
    kind: 'Pod', apiVersion: 'v1',
    metadata: { namespace, name, labels: pod.labels },
    spec: { nodeName: pod.node.name, containers: [{ name: 'server', image: 'agnhost', ports: namedPorts }] },
    status: { phase: 'Running', podIP: pod.v4, podIPs: [{ ip: pod.v4 }, { ip: pod.v6 }] },
  };
}

export const namespaceObject = (ns: string, extra: Record<string, string> = {}): JsonObject => ({ kind: 'Namespace', apiVersion: 'v1', metadata: { name: ns, labels: { [NS_LABEL]: ns, ns, ...extra } } });

/** A pod made by the plugin on `node`, posted to the API server. */
export async function addSimPod(cluster: SimCluster, api: FakeApiServer, node: SimNode, ref: string, labels: Record<string, string>): Promise<SimPod> {
  const added = await cluster.addPod(node);
  const pod: SimPod = { ref, node, netns: added.netns, v4: added.ip, v6: added.ipv6!, labels };
  api.addObject('pods', podObject(pod));
  return pod;
}

/** Starts the pod's TCP+UDP servers on 80 and 81 (both families); resolves once they listen. */
export async function serve(cluster: SimCluster, netns: string): Promise<ChildProcess> {
  const child = spawn('nsenter', [`--net=${netns}`, '--', process.execPath, PROBE, 'serve', '80,81', '80,81', String(ECHO_PORT)], { stdio: ['ignore', 'pipe', 'pipe'] });
  cluster.lab.track(child);
  await new Promise<void>((resolve, reject) => {
    child.stdout!.once('data', () => resolve());
    child.once('exit', (code) => reject(new Error(`the servers in ${netns} exited (${code})`)));
  });
  return child;
}

/** The node's real agent against the API server, its output added to node.agentLog. */
export function startKubeAgent(cluster: SimCluster, node: SimNode, api: FakeApiServer, extra: readonly string[] = []): ChildProcess {
  const child = spawn('nsenter', [`--net=${node.path}`, '--', AGENT, ...kubeAgentArgs(cluster, node, api, extra)], { env: { PATH: SYSTEM_PATH }, stdio: ['ignore', 'pipe', 'pipe'] });
  cluster.lab.track(child);
  node.agent = child;
  child.stdout!.on('data', (d) => (node.agentLog += d));
  child.stderr!.on('data', (d) => (node.agentLog += d));
  return child;
}

export interface ProbeSpec { to: string; proto: 'tcp' | 'udp'; port: number }
export interface Prober { probe(probes: readonly ProbeSpec[], timeoutMs: number): Promise<boolean[]>; close(): void }

/**
 * A prober kept running in the pod's netns (policy-probe.ts prober): one process for every check.
 * Resolves once it has started, so its start (CPU a loaded machine's agents need) is over before
 * the first check.
 */
export async function startProber(cluster: SimCluster, netns: string): Promise<Prober> {
  const child = spawn('nsenter', [`--net=${netns}`, '--', process.execPath, PROBE, 'prober'], { stdio: ['pipe', 'pipe', 'inherit'] });
  cluster.lab.track(child);
  const waiting = new Map<number, { resolve: (results: boolean[]) => void; reject: (error: Error) => void }>();
  let next = 0;
  let buffer = '';
  let started = () => {};
  const ready = new Promise<void>((resolve, reject) => {
    started = resolve;
    child.once('exit', (code) => reject(new Error(`the prober in ${netns} exited (${code})`)));
  });
  child.stdout!.on('data', (d: Buffer) => {
    buffer += d;
    const lines = buffer.split('\n');
    buffer = lines.pop()!;
    for (const line of lines) {
      if (line === 'ready') { started(); continue; }
      const { id, results } = JSON.parse(line) as { id: number; results: boolean[] };
      waiting.get(id)?.resolve(results);
      waiting.delete(id);
    }
  });
  child.once('exit', (code) => {
    for (const w of waiting.values()) w.reject(new Error(`the prober in ${netns} exited (${code})`));
    waiting.clear();
  });
  await ready;
  return {
    probe: (probes, timeoutMs) => new Promise((resolve, reject) => {
      const id = next++;
      waiting.set(id, { resolve, reject });
      child.stdin!.write(`${JSON.stringify({ id, probes, timeoutMs })}\n`);
    }),
    close: () => child.stdin!.end(),
  };
}

/**
 * The fake API server holding the cluster's Nodes, relayed into each node, each node's agent
 * started against it once `seed` has put the first objects in; `fn` runs when every agent's
 * /readyz matches `enforcing`. A failure carries the agents' logs (the last `logTail` characters
 * of each); the relays and the server close either way.
 */
export async function withPolicyAgents(
  cluster: SimCluster,
  options: { seed?: (api: FakeApiServer) => void; enforcing?: RegExp; logTail?: number },
  fn: (api: FakeApiServer, enforcing: (node: SimNode) => Promise<unknown>) => Promise<void>,
): Promise<void> {
  const nodes = cluster.nodes;
  const api = await startFakeApiServer(nodes.map((n) => makeNode({ name: n.name, podCIDRs: [n.podCIDR!, n.podCIDRv6!], internalIPs: [n.eth1IP, n.eth1IPv6!] })));
  const relays: ApiRelay[] = [];
  const pattern = options.enforcing ?? /NetworkPolicy enforced: 0 policies/;
  const enforcing = (node: SimNode) => eventually(async () => {
    const ready = await cluster.health(node, '/readyz').catch(() => undefined);
    return ready?.status === 200 && pattern.test(ready.body);
  }, 30_000, `${node.name}'s agent ready, enforcing`);
  try {
    options.seed?.(api);
    for (const node of nodes) {
      relays.push(await relayInto(node.path, cluster.dir, api, (child) => cluster.lab.track(child)));
      startKubeAgent(cluster, node, api);
    }
    for (const node of nodes) await enforcing(node);
    await fn(api, enforcing);
  } catch (error) {
    const logs = nodes.map((n) => `${n.name} agent log:\n${options.logTail ? n.agentLog.slice(-options.logTail) : n.agentLog}`).join('\n');
    throw new Error(`${(error as Error).message}\n${logs}`, { cause: error });
  } finally {
    for (const relay of relays) relay.close();
    await api.close();
  }
}
