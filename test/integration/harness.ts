// Test fixtures for running the built plugin exactly as a runtime does: a clean environment,
// the config on stdin, inside a "node" network namespace, against "pod" namespaces we create.
// Everything lives in one Lab (test/support/lab.ts): a per-run prefix, removed by cleanup(),
// also after failures and on SIGINT/SIGTERM.
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { SYSTEM_PATH } from '../../lib/exec.ts';

import { AGENT, PLUGIN } from '../support/cluster.ts';
import { execIn, ipJsonIn, pings, run } from '../support/exec-in.ts';
import { Lab, reportProblems, uniquePrefix as labPrefix } from '../support/lab.ts';

export { PLUGIN };
export const REFERENCE_PLUGINS = '/usr/lib/cni';
export { run };

export const skipUnlessRoot: string | false =
  process.getuid?.() !== 0 ? 'integration tests need root (network namespaces)' : !fs.existsSync(PLUGIN) ? 'dist/bridgeway is missing: run npm run build' : false;

/** For the agent's tests: root, and the executable built with its bridgeway-agent symlink. */
export const skipUnlessAgent: string | false = skipUnlessRoot || (!fs.existsSync(AGENT) && 'dist/bridgeway-agent (the symlink to dist/bridgeway) is missing: run npm run build');

export function uniquePrefix(): string {
  return labPrefix('bwt');
}

export interface PluginRun {
  exitCode: number;
  stdout: string;
  stderr: string;
  /** stdout parsed, when it is JSON. */
  json?: Record<string, any>;
}

export interface Invocation {
  command: string;
  containerId?: string;
  netns?: string;
  ifname?: string;
  args?: string;
  conf: object | string;
  plugin?: string;
  cniPath?: string;
}

/** A running plugin process: its child (to kill it) and its outcome. */
export interface PluginProcess {
  child: ChildProcess;
  done: Promise<PluginRun & { signal: NodeJS.Signals | null }>;
}

/** A node: a network namespace with its pods, a data dir and a log file. */
export class TestNode {
  readonly lab = new Lab(uniquePrefix()).cleanupOnSignals();
  readonly prefix = this.lab.prefix;
  readonly name = `${this.prefix}-node`;
  readonly path = `/run/netns/${this.name}`;
  readonly dir = this.lab.dir;
  readonly dataDir = path.join(this.dir, 'data');
  readonly logFile = path.join(this.dir, 'cni.log');
  private pods = 0;

  static async create(): Promise<TestNode> {
    const node = new TestNode();
    try {
      await node.lab.addNamespace('node', { loopbackUp: true });
    } catch (error) {
      await node.cleanup();
      throw error;
    }
    return node;
  }

  /** A bridgeway config pointing its state into this node's temp dir. */
  conf(extra: Record<string, unknown> = {}, subnet = '10.99.0.0/24'): Record<string, any> {
    return { cniVersion: '1.1.0', name: 'testnet', type: 'bridgeway', mtu: 1400, dataDir: this.dataDir, logFile: this.logFile, logLevel: 'debug', ipam: { subnet }, ...extra };
  }

  async pod(): Promise<string> {
    return (await this.makePods(1))[0]!;
  }

  /** `count` pod namespaces (lo up) made in one go; their paths. */
  async podBatch(count: number): Promise<string[]> {
    return this.makePods(count);
  }

  async deleteNetns(netnsPath: string): Promise<void> {
    await this.lab.removeNamespace(path.basename(netnsPath));
  }

  /** Runs argv inside the node namespace (or the given one). */
  exec(argv: string[], netnsPath = this.path) {
    return execIn(netnsPath, argv);
  }

  ipJson(args: string[], netnsPath = this.path): Promise<any[]> {
    return ipJsonIn(netnsPath, args);
  }

  async links(netnsPath = this.path): Promise<string[]> {
    return (await this.ipJson(['link', 'show'], netnsPath)).map((l) => l.ifname);
  }

  ping(fromNetns: string, address: string): Promise<boolean> {
    return pings(fromNetns, address);
  }

  reservedAddresses(network = 'testnet'): string[] {
    try {
      return fs.readdirSync(path.join(this.dataDir, network, 'ips')).filter((f) => !f.endsWith('.tmp')).sort();
    } catch {
      return [];
    }
  }

  /** Execs the plugin in this node's namespace with only PATH and the CNI_* variables set. */
  cni(inv: Invocation): Promise<PluginRun> {
    return this.start(inv).done;
  }

  /**
   * Starts the plugin as cni() does and hands back the process too, e.g. to SIGKILL it. The
   * plugin leads its own process group (nsenter execs it in place), so a caller can also tell
   * when the `ip` processes it started are gone (see processGroupGone).
   */
  start(inv: Invocation): PluginProcess {
    // Runtimes pass their own environment too; the reference plugins need PATH for iptables.
    const env: Record<string, string> = { PATH: SYSTEM_PATH, CNI_COMMAND: inv.command, CNI_PATH: inv.cniPath ?? REFERENCE_PLUGINS };
    if (inv.containerId !== undefined) env.CNI_CONTAINERID = inv.containerId;
    if (inv.netns !== undefined) env.CNI_NETNS = inv.netns;
    if (inv.ifname !== undefined) env.CNI_IFNAME = inv.ifname;
    if (inv.args !== undefined) env.CNI_ARGS = inv.args;
    const stdin = typeof inv.conf === 'string' ? inv.conf : JSON.stringify(inv.conf);
    const child = spawn('/usr/bin/nsenter', [`--net=${this.path}`, '--', inv.plugin ?? PLUGIN], { env, detached: true });
    const done = new Promise<PluginRun & { signal: NodeJS.Signals | null }>((resolve, reject) => {
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (d) => (stdout += d));
      child.stderr.on('data', (d) => (stderr += d));
      child.on('error', reject);
      child.on('close', (code, signal) => {
        let json: Record<string, any> | undefined;
        try {
          json = stdout.trim() ? JSON.parse(stdout) : undefined;
        } catch {
          json = undefined;
        }
        resolve({ exitCode: code ?? -1, signal, stdout, stderr, json });
      });
      child.stdin.on('error', () => {}); // EPIPE: a plugin killed before it read its config
      child.stdin.end(stdin);
    });
    return { child, done };
  }

  /** ADD that must succeed; returns the result. */
  async add(netns: string, containerId: string, conf: object = this.conf(), ifname = 'eth0'): Promise<Record<string, any>> {
    const res = await this.cni({ command: 'ADD', containerId, netns, ifname, conf });
    if (res.exitCode !== 0 || !res.json) throw new Error(`ADD ${containerId} failed (${res.exitCode}): ${res.stdout} ${res.stderr}`);
    return res.json;
  }

  async cleanup(): Promise<void> {
    reportProblems(this.lab.cleanup());
  }

  private async makePods(count: number): Promise<string[]> {
    const suffixes = Array.from({ length: count }, () => `p${this.pods++}`);
    return (await this.lab.addNamespaces(suffixes, { loopbackUp: true })).map((name) => this.lab.netnsPath(name));
  }
}

/** Whether every process of the group led by `pid` has exited (a plugin's `ip` children too). */
export function processGroupGone(pid: number): boolean {
  try {
    process.kill(-pid, 0);
    return false;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'ESRCH';
  }
}

/** Runs fn with a fresh node, always cleaning up. */
export async function withNode<T>(fn: (node: TestNode) => Promise<T>): Promise<T> {
  const node = await TestNode.create();
  try {
    return await fn(node);
  } finally {
    await node.cleanup();
  }
}

/** Maps with at most `limit` promises in flight. */
export async function mapLimit<T, R>(items: T[], limit: number, fn: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array(items.length);
  let next = 0;
  const workers = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) {
      const i = next++;
      results[i] = await fn(items[i]!, i);
    }
  });
  await Promise.all(workers);
  return results;
}
