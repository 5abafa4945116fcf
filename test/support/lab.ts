// The one throw-away world of the integration tests, the e2e simulation and the benchmarks:
// network namespaces (all named "<prefix>-<suffix>" with one per-run prefix), child processes,
// one temporary directory, and undo steps registered for anything else. Nothing is created in the
// root namespace but the namespace files themselves (a link between two namespaces is made inside
// one of them, so deleting the namespaces removes it too).
//
// cleanup() removes it all, synchronously (so a signal handler can call it), is safe to call
// twice, and returns problems instead of throwing: it runs in `finally` blocks, where a throw
// would hide the test's own failure. cleanupOnSignals() makes SIGINT/SIGTERM run it too.
import { execFileSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createRunner, SYSTEM_PATH } from '../../lib/exec.ts';

export const run = createRunner();

let counter = 0;
/**
 * A prefix no other process or lab of this process uses at the same time: the stem, the pid and
 * a counter, in base 36 to keep interface and namespace names short. With `salted`, a random
 * tail too, for labs whose namespaces could outlive a crashed run of the same pid.
 */
export function uniquePrefix(stem: string, salted = false): string {
  const salt = salted ? Math.floor(Math.random() * 1296).toString(36) : '';
  return `${stem}${process.pid.toString(36)}${salted ? '' : (counter++).toString(36)}${salt}`;
}

export function netnsPath(name: string): string {
  return `/run/netns/${name}`;
}

export class Lab {
  readonly prefix: string;
  /** Temporary directory for plugins, data, logs and traces. */
  readonly dir: string;
  private readonly namespaces = new Set<string>();
  private readonly children = new Set<ChildProcess>();
  private readonly undoSteps = new Set<() => void>();
  private cleaned = false;

  constructor(prefix: string) {
    this.prefix = prefix;
    this.dir = fs.mkdtempSync(path.join(os.tmpdir(), `${this.prefix}-`));
  }

  /**
   * Creates namespaces named `<prefix>-<suffix>` in one `ip` process and returns their names;
   * with `loopbackUp`, brings each one's lo up (one more process each: `ip -batch` has no -n).
   */
  async addNamespaces(suffixes: readonly string[], options: { loopbackUp?: boolean } = {}): Promise<string[]> {
    const names = suffixes.map((suffix) => `${this.prefix}-${suffix}`);
    if (names.length === 0) return [];
    for (const name of names) this.namespaces.add(name); // registered first: a partial batch is still cleaned
    await run(['ip', '-batch', '-'], { input: names.map((n) => `netns add ${n}\n`).join('') });
    if (options.loopbackUp) for (const name of names) await run(['ip', '-n', name, 'link', 'set', 'lo', 'up']);
    return names;
  }

  async addNamespace(suffix: string, options: { loopbackUp?: boolean } = {}): Promise<string> {
    const [name] = await this.addNamespaces([suffix], options);
    return name!;
  }

  /** Deleting a namespace also removes its links, routes and iptables rules. A missing one is fine. */
  async removeNamespace(name: string): Promise<void> {
    try {
      await run(['ip', 'netns', 'del', name]);
    } catch (error) {
      if (fs.existsSync(netnsPath(name))) throw error;
    }
    this.namespaces.delete(name);
  }

  netnsPath(name: string): string {
    return netnsPath(name);
  }

  /**
   * A veth pair between two of the lab's namespaces (e.g. a switch and a node), both ends up:
   * `from.name` in `from.netns` (a port of `from.master` when given), `to.name` in `to.netns`
   * with `to.address` (CIDR) when given. Made inside `from`, so nothing touches the root namespace.
   */
  async addVeth(from: { netns: string; name: string; master?: string }, to: { netns: string; name: string; address?: string }): Promise<void> {
    await run(['ip', '-n', from.netns, 'link', 'add', from.name, 'type', 'veth', 'peer', 'name', to.name, 'netns', netnsPath(to.netns)]);
    await run(['ip', '-n', from.netns, 'link', 'set', from.name, ...(from.master ? ['master', from.master] : []), 'up']);
    if (to.address) await run(['ip', '-n', to.netns, 'addr', 'add', to.address, 'dev', to.name]);
    await run(['ip', '-n', to.netns, 'link', 'set', to.name, 'up']);
  }

  /** The lab's namespaces that still exist, by name. */
  liveNamespaces(): string[] {
    try {
      return fs.readdirSync('/run/netns').filter((name) => this.namespaces.has(name));
    } catch {
      return [];
    }
  }

  /** A fresh directory inside the lab's temporary directory. */
  subdir(name: string): string {
    const dir = path.join(this.dir, name);
    fs.mkdirSync(dir, { recursive: true });
    return dir;
  }

  /** A child process killed by cleanup() if it is still running then. */
  track(child: ChildProcess): void {
    this.children.add(child);
    child.once('exit', () => this.children.delete(child));
  }

  /** Runs `undo` in cleanup() unless the returned function is called first. */
  onCleanup(undo: () => void): () => void {
    this.undoSteps.add(undo);
    return () => this.undoSteps.delete(undo);
  }

  /** Also clean up when the process gets SIGINT or SIGTERM (then die of that signal). */
  cleanupOnSignals(): this {
    if (!this.cleaned) signalled.add(this);
    installSignalHandlers();
    return this;
  }

  /** Removes every child process, namespace, registered thing and the temporary directory. */
  cleanup(): string[] {
    if (this.cleaned) return [];
    this.cleaned = true;
    signalled.delete(this);
    const problems: string[] = [];
    for (const child of this.children) if (child.pid && child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    if (this.namespaces.size > 0) {
      const failed = runSync(['ip', '-force', '-batch', '-'], [...this.namespaces].map((n) => `netns del ${n}\n`).join(''));
      const left = this.liveNamespaces();
      if (left.length > 0) problems.push(`namespaces still present: ${left.join(' ')}${failed ? ` (${failed})` : ''}`);
    }
    for (const undo of this.undoSteps) {
      try {
        undo();
      } catch (error) {
        problems.push(`cleanup step failed: ${(error as Error).message}`);
      }
    }
    fs.rmSync(this.dir, { recursive: true, force: true });
    return problems;
  }
}

/** Runs fn with a fresh lab (cleaned up on SIGINT/SIGTERM too), always cleaning up. */
export async function withLab<T>(prefix: string, fn: (lab: Lab) => Promise<T>): Promise<T> {
  const lab = new Lab(prefix).cleanupOnSignals();
  try {
    return await fn(lab);
  } finally {
    reportProblems(lab.cleanup());
  }
}

/** Cleanup problems go to stderr: they must not replace the error a `finally` is unwinding. */
export function reportProblems(problems: readonly string[]): void {
  for (const problem of problems) process.stderr.write(`lab cleanup: ${problem}\n`);
}

/** Synchronous, for cleanup from a signal handler; failures are returned, not thrown. */
function runSync(argv: readonly string[], input?: string): string | undefined {
  const [command, ...args] = argv;
  try {
    execFileSync(command!, args, { input, env: { PATH: SYSTEM_PATH, LC_ALL: 'C' }, stdio: ['pipe', 'ignore', 'pipe'], timeout: 60_000 });
    return undefined;
  } catch (error) {
    return (error as { stderr?: Buffer }).stderr?.toString().trim() || (error as Error).message;
  }
}

// Labs that asked to be cleaned up on a signal. One handler per signal for all of them, installed
// once, so a test file with many labs does not pile up listeners.
const signalled = new Set<Lab>();
let handlersInstalled = false;

function installSignalHandlers(): void {
  if (handlersInstalled) return;
  handlersInstalled = true;
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      for (const lab of [...signalled]) reportProblems(lab.cleanup());
      process.kill(process.pid, signal); // the default action now that our listener is gone
    });
  }
}
