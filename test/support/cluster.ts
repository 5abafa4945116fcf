// A simulated cluster in network namespaces, used by the agent's integration tests, the
// multi-node e2e and the demo. Topology (nothing is created in the root namespace):
//
//   <prefix>-sw    netns holding the switch bridge "sw" (the private L2 segment)
//   <prefix>-n<i>  one netns per node: eth1 = 192.168.50.(10+i)/24 (a veth whose other end is a
//                  port of "sw"), its own /opt/cni/bin, /etc/cni/net.d, IPAM dir, agent process
//   <prefix>-n<i>p<j>  pods, wired by the real plugin with the conflist the agent wrote
//   <prefix>-out   (on request) an "outside" host joined to node-0's eth0, with no route to pods
// Dual-stack mode adds eth1 fd00:50::(10+i)/64, podCIDRs fd00:10:244:(i+1)::/64 and the IPv6
// cluster CIDR fd00:10:244::/56 to the same topology.
// All of it (namespaces, agents, the temp dir) belongs to one Lab (test/support/lab.ts): removed
// by destroy(), also after failures and on SIGINT/SIGTERM.
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { SYSTEM_PATH } from '../../lib/exec.ts';
import { Lab, reportProblems, uniquePrefix } from './lab.ts';
import { poll, within } from './poll.ts';
import { execIn, ipJsonIn, pings, run } from './exec-in.ts';
import { CONFLIST_NAME, PLUGIN_TYPE, ROUTE_PROTO } from '../../lib/names.ts';
import { TestOvs } from './ovs.ts';

export const ROOT = path.resolve(import.meta.dirname, '../..');
export const PLUGIN = path.join(ROOT, 'dist/bridgeway');
export const AGENT = path.join(ROOT, 'dist/bridgeway-agent');
export const CLUSTER_CIDR = '10.244.0.0/16';
export const CLUSTER_CIDR_V6 = 'fd00:10:244::/56';
/** The outside host's addresses (outsideHost()), and node-0's on the link to it. */
export const OUTSIDE = { ipv4: '203.0.113.2', ipv6: '2001:db8:113::2', nodeIpv4: '203.0.113.1', nodeIpv6: '2001:db8:113::1' } as const;

export interface ClusterOptions {
  /** IPv6 next to IPv4 on eth1, in every podCIDR list and in the cluster CIDR. */
  dualStack?: boolean;
  /**
   * The pods' switch on every node: a Linux bridge (default), or an Open vSwitch bridge, each node
   * with an ovsdb-server and ovs-vswitchd of its own (test/support/ovs.ts; the userspace datapath,
   * vswitchd inside the node's namespace) and its agent run with --bridge-type ovs.
   */
  bridge?: 'linux' | 'ovs';
}

export interface NodeSpec {
  name: string;
  podCIDR?: string;
  eth1IP: string;
  /** Dual-stack: the IPv6 podCIDR and eth1 address (written as podCIDRs / eth1IPs lists). */
  podCIDRv6?: string;
  eth1IPv6?: string;
}

export class SimNode {
  readonly index: number;
  readonly name: string;
  readonly netns: string;
  readonly path: string;
  readonly dir: string;
  readonly eth1IP: string;
  podCIDR: string | undefined;
  /** Dual-stack only. */
  readonly eth1IPv6: string | undefined;
  podCIDRv6: string | undefined;
  agent: ChildProcess | undefined;
  agentLog = '';
  readonly podNetns: string[] = [];
  /** The node's own Open vSwitch (bridge 'ovs' only). */
  ovs: TestOvs | undefined;

  constructor(cluster: SimCluster, index: number) {
    this.index = index;
    this.name = `node-${index}`;
    this.netns = `${cluster.prefix}-n${index}`;
    this.path = `/run/netns/${this.netns}`;
    this.dir = path.join(cluster.dir, this.name);
    this.eth1IP = `192.168.50.${10 + index}`;
    this.podCIDR = `10.244.${index + 1}.0/24`;
    this.eth1IPv6 = cluster.dualStack ? `fd00:50::${10 + index}` : undefined;
    this.podCIDRv6 = cluster.dualStack ? `fd00:10:244:${index + 1}::/64` : undefined;
  }

  get binDir() {
    return path.join(this.dir, 'opt-cni-bin');
  }
  get confDir() {
    return path.join(this.dir, 'etc-cni-net.d');
  }
  get conflistPath() {
    return path.join(this.confDir, CONFLIST_NAME);
  }

  exec(argv: string[], netnsPath = this.path, input?: string) {
    return execIn(netnsPath, argv, input);
  }

  ipJson(args: string[], netnsPath = this.path): Promise<any[]> {
    return ipJsonIn(netnsPath, args);
  }

  /** Our routes (the agent's proto) of a family as "dst via gw". */
  async agentRoutes(family: 4 | 6 = 4): Promise<string[]> {
    const routes = await this.ipJson([`-${family}`, 'route', 'show', 'proto', ROUTE_PROTO]);
    return routes.map((r) => `${r.dst} via ${r.gateway}`).sort();
  }

  async iptablesSave(family: 4 | 6 = 4): Promise<string> {
    const save = family === 6 ? 'ip6tables-nft-save' : 'iptables-nft-save';
    return (await this.exec([save])).stdout.split('\n').filter((l) => !l.startsWith('#') && !/^:.*\[\d+:\d+\]$/.test(l) || l.includes('BRIDGEWAY')).join('\n');
  }
}

export class SimCluster {
  readonly lab: Lab;
  readonly prefix: string;
  readonly dir: string;
  readonly switchNetns: string;
  readonly nodes: SimNode[] = [];
  readonly nodesFile: string;
  readonly dualStack: boolean;
  readonly bridge: 'linux' | 'ovs';
  /** The outside host's netns path, once outsideHost() made it. */
  outsideNetns: string | undefined;

  private constructor(prefix: string, options: ClusterOptions) {
    this.lab = new Lab(prefix).cleanupOnSignals();
    this.prefix = prefix;
    this.dualStack = options.dualStack ?? false;
    this.bridge = options.bridge ?? 'linux';
    this.dir = this.lab.dir;
    this.switchNetns = `${prefix}-sw`;
    this.nodesFile = path.join(this.dir, 'nodes.yaml');
  }

  static async create(count: number, prefix = uniquePrefix('bwc', true), options: ClusterOptions = {}): Promise<SimCluster> {
    const cluster = new SimCluster(prefix, options);
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
    if (node.eth1IPv6) {
      await run(['ip', '-n', node.netns, 'addr', 'add', `${node.eth1IPv6}/64`, 'dev', 'eth1', 'nodad']); // nodad: usable at once
      // A real node's eth1 is long past DAD; this one is seconds old, and the kernel solicits a
      // forwarded packet's next hop only from a link-local address out of DAD. Make one valid now.
      await run(['ip', '-n', node.netns, 'addr', 'add', `fe80::50:${10 + node.index}/64`, 'dev', 'eth1', 'nodad']);
    }
    if (this.bridge === 'ovs') node.ovs = await TestOvs.start(this.lab, node.netns, { dir: path.join(node.dir, 'ovs') });
    return node;
  }

  /**
   * An "outside" host on node-0's eth0 (a veth into <prefix>-out), both families: it knows only
   * its connected subnets, so a pod's packets are answered only if node-0 masqueraded them.
   */
  async outsideHost(): Promise<string> {
    const node = this.nodes[0]!;
    const name = await this.lab.addNamespace('out');
    this.outsideNetns = this.lab.netnsPath(name);
    await run(['ip', '-n', name, 'link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', node.path]);
    for (const [netns, v4, v6] of [[name, OUTSIDE.ipv4, OUTSIDE.ipv6], [node.netns, OUTSIDE.nodeIpv4, OUTSIDE.nodeIpv6]] as const) {
      for (const cmd of [['link', 'set', 'lo', 'up'], ['addr', 'add', `${v4}/24`, 'dev', 'eth0'], ['addr', 'add', `${v6}/64`, 'dev', 'eth0', 'nodad'], ['link', 'set', 'eth0', 'up']]) {
        await run(['ip', '-n', netns, ...cmd]);
      }
    }
    return this.outsideNetns;
  }

  /** The standalone agents' view of the cluster; rewritten atomically like a ConfigMap update. */
  writeNodesFile(specs: NodeSpec[] = this.nodes.map((n) => ({ name: n.name, podCIDR: n.podCIDR, eth1IP: n.eth1IP, podCIDRv6: n.podCIDRv6, eth1IPv6: n.eth1IPv6 }))) {
    const entry = (s: NodeSpec) => {
      if (!s.eth1IPv6) return `{name: ${s.name}, ${s.podCIDR ? `podCIDR: ${s.podCIDR}, ` : ''}eth1IP: ${s.eth1IP}}`;
      // Dual-stack: lists, with the IPv6 values unquoted (YAML reads them as strings all the same).
      const podCIDRs = [s.podCIDR, s.podCIDRv6].filter(Boolean);
      return `{name: ${s.name}, podCIDRs: [${podCIDRs.join(', ')}], eth1IPs: [${s.eth1IP}, ${s.eth1IPv6}]}`;
    };
    const yaml = ['nodes:', ...specs.map((s) => `  - ${entry(s)}`)].join('\n');
    const temp = `${this.nodesFile}.tmp`;
    fs.writeFileSync(temp, yaml + '\n');
    fs.renameSync(temp, this.nodesFile);
  }

  agentArgs(node: SimNode, extra: string[] = []): string[] {
    return [
      '--node-name', node.name, '--nodes-file', this.nodesFile, '--cluster-cidr', this.dualStack ? `${CLUSTER_CIDR},${CLUSTER_CIDR_V6}` : CLUSTER_CIDR,
      // No --plugin-binary: the agent installs its own file (dist/bridgeway-agent is a symlink to
      // dist/bridgeway, the plugin too).
      '--cni-bin-dir', node.binDir, '--cni-conf-dir', node.confDir,
      '--data-dir', path.join(node.dir, 'ipam'), '--cni-log-file', path.join(node.dir, 'cni.log'),
      '--health-addr', '127.0.0.1:9099', '--resync', '1s', '--log-level', 'info',
      ...(node.ovs ? ['--bridge-type', 'ovs', '--ovsdb-socket', node.ovs.socket, '--ovs-datapath', 'netdev'] : []),
      ...extra,
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

  /** Full syncs the node's agent has finished, whatever their result (its bridgeway_syncs_total). */
  async syncs(node: SimNode): Promise<number> {
    const { body } = await this.health(node, '/metrics');
    return [...body.matchAll(/^bridgeway_syncs_total(?:\{[^}]*\})? (\d+)$/gm)].reduce((sum, m) => sum + Number(m[1]), 0);
  }

  /** Resolves once the node's agent has finished `count` more full syncs than when called. */
  async moreSyncs(node: SimNode, count: number, timeoutMs = 10_000): Promise<void> {
    const target = (await this.syncs(node)) + count;
    await eventually(async () => (await this.syncs(node)) >= target, timeoutMs, `${count} more syncs of ${node.name}'s agent`);
  }

  /**
   * Creates a pod netns and runs the plugin (installed by the agent) with the agent's conflist,
   * its plugin's keys overridden by `overrides` (bench:net's `"antiSpoofing": false`).
   */
  async addPod(node: SimNode, overrides: Record<string, unknown> = {}): Promise<{ netns: string; ip: string; ipv6?: string; result: any }> {
    const netns = this.lab.netnsPath(await this.lab.addNamespace(`n${node.index}p${node.podNetns.length}`));
    node.podNetns.push(netns);
    const conflist = JSON.parse(fs.readFileSync(node.conflistPath, 'utf8'));
    const conf = { cniVersion: conflist.cniVersion, name: conflist.name, ...conflist.plugins[0], ...overrides };
    const containerId = `${node.name}-pod${node.podNetns.length - 1}`;
    const { stdout } = await run(['nsenter', `--net=${node.path}`, '--', path.join(node.binDir, PLUGIN_TYPE)], {
      input: JSON.stringify(conf),
      env: { CNI_COMMAND: 'ADD', CNI_CONTAINERID: containerId, CNI_NETNS: netns, CNI_IFNAME: 'eth0', CNI_PATH: node.binDir },
    });
    const result = JSON.parse(stdout);
    const addresses: string[] = result.ips.map((i: { address: string }) => i.address.split('/')[0]);
    const ipv6 = addresses.find((a) => a.includes(':'));
    return { netns, ip: addresses.find((a) => !a.includes(':')) ?? addresses[0]!, ...(ipv6 && { ipv6 }), result };
  }

  ping(fromNetns: string, address: string, count = 1): Promise<boolean> {
    return pings(fromNetns, address, count);
  }

  /**
   * One TCP connection from `fromNetns` to a one-shot server in `toNetns` listening on `address`
   * (Node at both ends), carrying 64 KiB back: a TCP checksum wrong anywhere on the path (the
   * userspace datapath's offload trap) loses the data, not only the handshake.
   */
  async tcp(fromNetns: string, toNetns: string, address: string, options: { port?: number; via?: { address: string; port: number } } = {}): Promise<boolean> {
    const port = options.port ?? 7070;
    const target = options.via ?? { address, port };
    const serve = `require('net').createServer((s) => s.end(Buffer.alloc(65536, 120))).listen(${port}, ${JSON.stringify(address)}, () => console.log('ready'))`;
    const server = spawn('nsenter', [`--net=${toNetns}`, '--', process.execPath, '-e', serve], { stdio: ['ignore', 'pipe', 'pipe'] });
    this.lab.track(server);
    try {
      await new Promise<void>((resolve, reject) => {
        server.stdout!.once('data', () => resolve());
        server.once('exit', (code) => reject(new Error(`the TCP server on ${address} exited (${code})`)));
      });
      const connect = `const s = require('net').connect(${target.port}, ${JSON.stringify(target.address)}); let n = 0; s.on('data', (c) => n += c.length); ` +
        `s.on('end', () => { console.log(n); process.exit(0); }); s.on('error', () => process.exit(1)); setTimeout(() => process.exit(2), 5000);`;
      const client = await execIn(fromNetns, [process.execPath, '-e', connect]).catch(() => undefined);
      return client?.stdout.trim() === '65536';
    } finally {
      server.kill('SIGKILL');
    }
  }

  /** Kills the agents still running, removes every namespace and the temp dir. */
  async destroy(): Promise<void> {
    // A test may start an agent itself and only set node.agent: kill that one too.
    for (const node of this.nodes) if (node.agent?.exitCode === null && node.agent.signalCode === null) node.agent.kill('SIGKILL');
    for (const node of this.nodes) await node.ovs?.stop().catch(() => undefined); // by PID; the lab SIGKILLs what is left
    reportProblems(this.lab.cleanup());
  }
}

export async function withCluster<T>(count: number, fn: (cluster: SimCluster) => Promise<T>, options: ClusterOptions = {}): Promise<T> {
  const cluster = await SimCluster.create(count, undefined, options);
  try {
    return await fn(cluster);
  } finally {
    await cluster.destroy();
  }
}

/**
 * The source address a pod sees: a one-shot UDP listener in `toNetns` on `port`, a datagram from
 * `fromNetns` to `address`, and the listener prints the sender's address as the kernel gave it.
 */
export async function sourceSeenBy(toNetns: string, address: string, fromNetns: string, port = 7777): Promise<string> {
  const family = address.includes(':') ? 'udp6' : 'udp4';
  const listen = `const s=require('dgram').createSocket('${family}');s.on('message',(m,r)=>{process.stdout.write(r.address);process.exit(0)});` +
    `s.bind(${port},()=>process.stderr.write('ready'));setTimeout(()=>process.exit(3),8000)`;
  const child = spawn('nsenter', [`--net=${toNetns}`, '--', process.execPath, '-e', listen], { stdio: ['ignore', 'pipe', 'pipe'] });
  let seen = '';
  child.stdout.on('data', (d) => (seen += d));
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
  await new Promise<void>((resolve, reject) => {
    child.stderr.once('data', () => resolve());
    child.once('exit', () => reject(new Error('the UDP listener exited before it was ready')));
  });
  const send = `const s=require('dgram').createSocket('${family}');const t=setInterval(()=>s.send('hi',${port},'${address}'),200);setTimeout(()=>{clearInterval(t);s.close()},6000)`;
  const sender = spawn('nsenter', [`--net=${fromNetns}`, '--', process.execPath, '-e', send], { stdio: 'ignore' });
  try {
    const code = await exited;
    if (code !== 0) throw new Error(`no datagram from ${fromNetns} reached ${address} (listener exit ${code})`);
    return seen;
  } finally {
    sender.kill('SIGKILL');
  }
}

/** Polls until fn returns a truthy value; errors mean "not yet" (an agent still starting). */
export function eventually<T>(fn: () => Promise<T | undefined | false>, timeoutMs = 10_000, what = 'condition'): Promise<T> {
  return poll(fn, { timeoutMs, what, everyMs: 100, retryErrors: true });
}
