// A simulated cluster in network namespaces, used by the agent's integration tests, the
// multi-node e2e and the demo. Topology (nothing is created in the root namespace):
//
//   <prefix>-sw    netns holding the switch bridge "sw" (the private L2 segment)
//   <prefix>-n<i>  one netns per node: eth1 = 192.168.50.(10+i)/24 (a veth whose other end is a
//                  port of "sw"), its own /opt/cni/bin, /etc/cni/net.d, IPAM dir, agent process
//   <prefix>-n<i>p<j>  pods, wired by the real plugin with the conflist the agent wrote
// All of it (namespaces, agents, the temp dir) belongs to one Lab (test/support/lab.ts): removed
// by destroy(), also after failures and on SIGINT/SIGTERM.
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { SYSTEM_PATH } from '../../lib/exec.ts';
import { Lab, reportProblems, uniquePrefix } from '../../test/support/lab.ts';
import { poll, within } from '../../test/support/poll.ts';
import { execIn, ipJsonIn, pings, run } from './exec-in.ts';

export const ROOT = path.resolve(import.meta.dirname, '../..');
export const PLUGIN = path.join(ROOT, 'dist/bridgeway');
export const AGENT = path.join(ROOT, 'dist/bridgeway-agent');
export const CLUSTER_CIDR = '10.244.0.0/16';

export interface NodeSpec {
  name: string;
  podCIDR?: string;
  eth1IP: string;
}

export class SimNode {
  readonly index: number;
  readonly name: string;
  readonly netns: string;
  readonly path: string;
  readonly dir: string;
  readonly eth1IP: string;
  podCIDR: string | undefined;
  agent: ChildProcess | undefined;
  agentLog = '';
  readonly podNetns: string[] = [];

  constructor(cluster: SimCluster, index: number) {
    this.index = index;
    this.name = `node-${index}`;
    this.netns = `${cluster.prefix}-n${index}`;
    this.path = `/run/netns/${this.netns}`;
    this.dir = path.join(cluster.dir, this.name);
    this.eth1IP = `192.168.50.${10 + index}`;
    this.podCIDR = `10.244.${index + 1}.0/24`;
  }

  get binDir() {
    return path.join(this.dir, 'opt-cni-bin');
  }
  get confDir() {
    return path.join(this.dir, 'etc-cni-net.d');
  }
  get conflistPath() {
    return path.join(this.confDir, '10-bridgeway.conflist');
  }

  exec(argv: string[], netnsPath = this.path, input?: string) {
    return execIn(netnsPath, argv, input);
  }

  ipJson(args: string[], netnsPath = this.path): Promise<any[]> {
    return ipJsonIn(netnsPath, args);
  }

  /** Our routes (proto 77) as "dst via gw". */
  async agentRoutes(): Promise<string[]> {
    const routes = await this.ipJson(['-4', 'route', 'show', 'proto', '77']);
    return routes.map((r) => `${r.dst} via ${r.gateway}`).sort();
  }

  async iptablesSave(): Promise<string> {
    return (await this.exec(['iptables-nft-save'])).stdout.split('\n').filter((l) => !l.startsWith('#') && !/^:.*\[\d+:\d+\]$/.test(l) || l.includes('BRIDGEWAY')).join('\n');
  }
}

export class SimCluster {
  readonly lab: Lab;
  readonly prefix: string;
  readonly dir: string;
  readonly switchNetns: string;
  readonly nodes: SimNode[] = [];
  readonly nodesFile: string;

  private constructor(prefix: string) {
    this.lab = new Lab(prefix).cleanupOnSignals();
    this.prefix = prefix;
    this.dir = this.lab.dir;
    this.switchNetns = `${prefix}-sw`;
    this.nodesFile = path.join(this.dir, 'nodes.yaml');
  }

  static async create(count: number, prefix = uniquePrefix('bwc', true)): Promise<SimCluster> {
    const cluster = new SimCluster(prefix);
    try {
      await cluster.lab.addNamespace('sw');
      await cluster.inSwitch(['ip', 'link', 'add', 'sw', 'type', 'bridge']);
      await cluster.inSwitch(['ip', 'link', 'set', 'sw', 'up']);
      for (let i = 0; i < count; i++) await cluster.addNode();
      cluster.writeNodesFile();
    } catch (error) {
      await cluster.destroy();
      throw error;
    }
    return cluster;
  }

  private inSwitch(argv: string[]) {
    return run(['ip', '-n', this.switchNetns, ...argv.slice(1)]);
  }

  async addNode(): Promise<SimNode> {
    const node = new SimNode(this, this.nodes.length);
    this.nodes.push(node);
    for (const dir of [node.binDir, node.confDir]) fs.mkdirSync(dir, { recursive: true });
    await this.lab.addNamespace(`n${node.index}`, { loopbackUp: true });
    await this.lab.addVeth({ netns: this.switchNetns, name: `p${node.index}`, master: 'sw' }, { netns: node.netns, name: 'eth1', address: `${node.eth1IP}/24` });
    return node;
  }

  /** The standalone agents' view of the cluster; rewritten atomically like a ConfigMap update. */
  writeNodesFile(specs: NodeSpec[] = this.nodes.map((n) => ({ name: n.name, podCIDR: n.podCIDR, eth1IP: n.eth1IP }))) {
    const yaml = ['nodes:', ...specs.map((s) => `  - {name: ${s.name}, ${s.podCIDR ? `podCIDR: ${s.podCIDR}, ` : ''}eth1IP: ${s.eth1IP}}`)].join('\n');
    const temp = `${this.nodesFile}.tmp`;
    fs.writeFileSync(temp, yaml + '\n');
    fs.renameSync(temp, this.nodesFile);
  }

  agentArgs(node: SimNode, extra: string[] = []): string[] {
    return [
      '--node-name', node.name, '--nodes-file', this.nodesFile, '--cluster-cidr', CLUSTER_CIDR,
      '--cni-bin-dir', node.binDir, '--cni-conf-dir', node.confDir, '--plugin-binary', PLUGIN,
      '--data-dir', path.join(node.dir, 'ipam'), '--cni-log-file', path.join(node.dir, 'cni.log'),
      '--health-addr', '127.0.0.1:9099', '--resync', '1s', '--log-level', 'info', ...extra,
    ];
  }

  /** Starts the real agent executable inside the node's namespace. */
  startAgent(node: SimNode, extra: string[] = []): ChildProcess {
    const child = spawn('nsenter', [`--net=${node.path}`, '--', AGENT, ...this.agentArgs(node, extra)], {
      env: { PATH: SYSTEM_PATH },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stdout!.on('data', (d) => (node.agentLog += d));
    child.stderr!.on('data', (d) => (node.agentLog += d));
    this.lab.track(child);
    node.agent = child;
    return child;
  }

  /** SIGTERM and wait: the agent must exit by itself, leaving routes and rules. */
  async stopAgent(node: SimNode): Promise<number | null> {
    const child = node.agent;
    if (!child || child.exitCode !== null) return child?.exitCode ?? null;
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    child.kill('SIGTERM');
    const code = await within(exited, 10_000);
    if (code === undefined) {
      child.kill('SIGKILL');
      throw new Error(`agent on ${node.name} ignored SIGTERM`);
    }
    node.agent = undefined;
    return code;
  }

  async runAgentOnce(node: SimNode, extra: string[] = []) {
    return run(['nsenter', `--net=${node.path}`, '--', AGENT, ...this.agentArgs(node, ['--once', ...extra])]);
  }

  /** GET a health endpoint inside the node's namespace. */
  async health(node: SimNode, urlPath: string): Promise<{ status: number; body: string }> {
    const script = `fetch('http://127.0.0.1:9099${urlPath}').then(async r=>process.stdout.write(JSON.stringify({status:r.status,body:await r.text()})))`;
    const { stdout } = await node.exec([process.execPath, '-e', script]);
    return JSON.parse(stdout);
  }

  /** Creates a pod netns and runs the plugin (installed by the agent) with the agent's conflist. */
  async addPod(node: SimNode): Promise<{ netns: string; ip: string; result: any }> {
    const netns = this.lab.netnsPath(await this.lab.addNamespace(`n${node.index}p${node.podNetns.length}`));
    node.podNetns.push(netns);
    const conflist = JSON.parse(fs.readFileSync(node.conflistPath, 'utf8'));
    const conf = { cniVersion: conflist.cniVersion, name: conflist.name, ...conflist.plugins[0] };
    const containerId = `${node.name}-pod${node.podNetns.length - 1}`;
    const { stdout } = await run(['nsenter', `--net=${node.path}`, '--', path.join(node.binDir, 'bridgeway')], {
      input: JSON.stringify(conf),
      env: { CNI_COMMAND: 'ADD', CNI_CONTAINERID: containerId, CNI_NETNS: netns, CNI_IFNAME: 'eth0', CNI_PATH: node.binDir },
    });
    const result = JSON.parse(stdout);
    return { netns, ip: result.ips[0].address.split('/')[0], result };
  }

  ping(fromNetns: string, address: string, count = 1): Promise<boolean> {
    return pings(fromNetns, address, count);
  }

  /** Kills the agents still running, removes every namespace and the temp dir. */
  async destroy(): Promise<void> {
    // A test may start an agent itself and only set node.agent: kill that one too.
    for (const node of this.nodes) if (node.agent?.exitCode === null && node.agent.signalCode === null) node.agent.kill('SIGKILL');
    reportProblems(this.lab.cleanup());
  }
}

export async function withCluster<T>(count: number, fn: (cluster: SimCluster) => Promise<T>): Promise<T> {
  const cluster = await SimCluster.create(count);
  try {
    return await fn(cluster);
  } finally {
    await cluster.destroy();
  }
}

/** Polls until fn returns a truthy value; errors mean "not yet" (an agent still starting). */
export function eventually<T>(fn: () => Promise<T | undefined | false>, timeoutMs = 10_000, what = 'condition'): Promise<T> {
  return poll(fn, { timeoutMs, what, everyMs: 100, retryErrors: true });
}
