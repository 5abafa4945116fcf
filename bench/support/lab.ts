// Everything a benchmark run creates on the machine: network namespaces (all named with one
// per-run prefix), child processes, one temporary directory, and undo steps registered for
// anything else (e.g. the fake API server's temp dir). Nothing is created in the root namespace but
// the namespace files themselves. cleanup() removes it all, synchronously (so a signal handler can
// call it too), is safe to call twice, and returns problems instead of throwing.
import type { ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { helperEnv, IP, mustRun, runSync } from './exec.ts';

export class Lab {
  readonly prefix: string;
  /** Temporary directory for plugins, data, logs and traces. */
  readonly dir: string;
  private readonly namespaces = new Set<string>();
  private readonly children = new Set<ChildProcess>();
  private readonly undoSteps = new Set<() => void>();
  private cleaned = false;

  constructor(prefix = `bwbench${process.pid}`) {
    this.prefix = prefix;
    this.dir = fs.mkdtempSync(path.join(os.tmpdir(), `${this.prefix}-`));
  }

  /** Creates namespaces named `<prefix>-<suffix>` in one `ip` process; returns their names. */
  async addNamespaces(suffixes: readonly string[]): Promise<string[]> {
    const names = suffixes.map((suffix) => `${this.prefix}-${suffix}`);
    for (const name of names) this.namespaces.add(name); // registered first: a partial batch is still cleaned
    await mustRun({ argv: [IP, '-batch', '-'], env: helperEnv(), input: names.map((n) => `netns add ${n}\n`).join('') });
    return names;
  }

  /** Deleting a namespace also removes its links, routes and iptables rules. */
  async removeNamespace(name: string): Promise<void> {
    await mustRun({ argv: [IP, 'netns', 'del', name], env: helperEnv() }).catch(() => {});
    this.namespaces.delete(name);
  }

  netnsPath(name: string): string {
    return `/run/netns/${name}`;
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

  /** Removes every child process, namespace, registered thing and the temporary directory. */
  cleanup(): string[] {
    if (this.cleaned) return [];
    this.cleaned = true;
    const problems: string[] = [];
    for (const child of this.children) if (child.pid && child.exitCode === null) child.kill('SIGKILL');
    if (this.namespaces.size > 0) {
      const script = [...this.namespaces].map((n) => `netns del ${n}\n`).join('');
      const failed = runSync([IP, '-force', '-batch', '-'], script);
      const left = this.leftoverNamespaces();
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

  private leftoverNamespaces(): string[] {
    try {
      return fs.readdirSync('/run/netns').filter((name) => this.namespaces.has(name));
    } catch {
      return [];
    }
  }
}
