// The agent benchmark's throw-away world: a "switch" netns holding the far ends of the node
// netns' eth1 veths, one fresh node netns per measured run (eth1 = 192.168.0.1/16, so any peer
// address 192.168.x.y is on-link and the kernel accepts `via` it without the neighbour existing),
// and a temp directory. Nothing is created in the root namespace except the namespaces themselves.
// Every namespace, child process, directory and registered cleanup is tracked so `destroy()` (finally) and
// `destroySync()` (SIGINT/SIGTERM) remove exactly what this run made.
import { execFileSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createRunner, SYSTEM_PATH } from '../../lib/exec.ts';

export const run = createRunner({ timeoutMs: 120_000 });
export const NODE_ADDRESS = '192.168.0.1/16';

export interface NodeNetns {
  name: string;
  path: string;
}

export class Lab {
  readonly prefix: string;
  readonly dir: string;
  readonly switchNetns: string;
  private readonly namespaces = new Set<string>();
  private readonly children = new Set<ChildProcess>();
  /** Synchronous undo steps for things outside the lab's dir (e.g. the fake API server's temp dir). */
  private readonly cleanups = new Set<() => void>();
  private seq = 0;

  private constructor(prefix: string) {
    this.prefix = prefix;
    this.dir = fs.mkdtempSync(path.join(os.tmpdir(), `${prefix}-`));
    this.switchNetns = `${prefix}-sw`;
  }

  static async create(): Promise<Lab> {
    const prefix = `bwagent${process.pid.toString(36)}${Math.floor(Math.random() * 1296).toString(36)}`;
    const lab = new Lab(prefix);
    try {
      await lab.addNetns(lab.switchNetns);
    } catch (error) {
      await lab.destroy();
      throw error;
    }
    return lab;
  }

  private async addNetns(name: string): Promise<void> {
    this.namespaces.add(name); // before creating: a half-made namespace is removed too
    await run(['ip', 'netns', 'add', name]);
    await run(['ip', '-n', name, 'link', 'set', 'lo', 'up']);
  }

  /** A fresh node namespace whose eth1 (192.168.0.1/16) is a veth into the switch namespace. */
  async addNode(): Promise<NodeNetns> {
    const index = this.seq++;
    const name = `${this.prefix}-n${index}`;
    await this.addNetns(name);
    const nsPath = `/run/netns/${name}`;
    const port = `p${index}`;
    await run(['ip', '-n', this.switchNetns, 'link', 'add', port, 'type', 'veth', 'peer', 'name', 'eth1', 'netns', nsPath]);
    await run(['ip', '-n', this.switchNetns, 'link', 'set', port, 'up']);
    await run(['ip', '-n', name, 'addr', 'add', NODE_ADDRESS, 'dev', 'eth1']);
    await run(['ip', '-n', name, 'link', 'set', 'eth1', 'up']);
    return { name, path: nsPath };
  }

  /** Deleting the node namespace also removes its veth pair, routes and iptables rules. */
  async removeNode(node: NodeNetns): Promise<void> {
    await run(['ip', 'netns', 'del', node.name]).catch(() => {});
    this.namespaces.delete(node.name);
  }

  /** A fresh directory under the lab's temp dir. */
  mkdir(name: string): string {
    const dir = path.join(this.dir, `${name}-${this.seq++}`);
    fs.mkdirSync(dir, { recursive: true });
    return dir;
  }

  track(child: ChildProcess): void {
    this.children.add(child);
    child.once('exit', () => this.children.delete(child));
  }

  /** Runs `undo` on destroy() and destroySync() unless the returned function is called first. */
  onDestroy(undo: () => void): () => void {
    this.cleanups.add(undo);
    return () => this.cleanups.delete(undo);
  }

  private runCleanups(): void {
    for (const undo of this.cleanups) {
      try {
        undo();
      } catch {
        // best effort, like the rest of the teardown
      }
    }
    this.cleanups.clear();
  }

  /** argv run inside a namespace (nsenter execs in place: the pid is the command's own). */
  inNetns(node: NodeNetns, argv: readonly string[], input?: string) {
    return run(['nsenter', `--net=${node.path}`, '--', ...argv], { input });
  }

  async destroy(): Promise<void> {
    for (const child of this.children) if (child.pid && child.exitCode === null) child.kill('SIGKILL');
    for (const name of [...this.namespaces].reverse()) await run(['ip', 'netns', 'del', name]).catch(() => {});
    this.namespaces.clear();
    this.runCleanups();
    fs.rmSync(this.dir, { recursive: true, force: true });
  }

  /** For signal handlers: no awaiting, just undo everything. */
  destroySync(): void {
    for (const child of this.children) if (child.pid && child.exitCode === null) child.kill('SIGKILL');
    for (const name of [...this.namespaces].reverse()) {
      try {
        execFileSync('ip', ['netns', 'del', name], { stdio: 'ignore', env: { PATH: SYSTEM_PATH } });
      } catch {
        // already gone
      }
    }
    this.namespaces.clear();
    this.runCleanups();
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}
