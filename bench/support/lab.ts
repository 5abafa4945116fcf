// Everything the benchmark creates on the machine: network namespaces (all named with one
// per-run prefix) and one temporary directory. Nothing is created in the root namespace but the
// namespace files themselves; cleanup() removes it all and is safe to call twice or from a
// signal handler.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { helperEnv, IP, mustRun, runSync } from './exec.ts';

export class Lab {
  readonly prefix: string;
  /** Temporary directory for IPAM data, logs and traces. */
  readonly dir: string;
  private readonly namespaces = new Set<string>();
  private cleaned = false;

  constructor() {
    this.prefix = `bwbench${process.pid}`;
    this.dir = fs.mkdtempSync(path.join(os.tmpdir(), `${this.prefix}-`));
  }

  /** Creates namespaces named `<prefix>-<suffix>` in one `ip` process; returns their names. */
  async addNamespaces(suffixes: readonly string[]): Promise<string[]> {
    const names = suffixes.map((suffix) => `${this.prefix}-${suffix}`);
    for (const name of names) this.namespaces.add(name); // registered first: a partial batch is still cleaned
    await mustRun({ argv: [IP, '-batch', '-'], env: helperEnv(), input: names.map((n) => `netns add ${n}\n`).join('') });
    return names;
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

  /** Removes every namespace and the temporary directory; returns problems instead of throwing. */
  cleanup(): string[] {
    if (this.cleaned) return [];
    this.cleaned = true;
    const problems: string[] = [];
    if (this.namespaces.size > 0) {
      const script = [...this.namespaces].map((n) => `netns del ${n}\n`).join('');
      const failed = runSync([IP, '-force', '-batch', '-'], script);
      const left = this.leftoverNamespaces();
      if (left.length > 0) problems.push(`namespaces still present: ${left.join(' ')}${failed ? ` (${failed})` : ''}`);
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
