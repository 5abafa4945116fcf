// The real agent executable run as a process inside a node namespace, observed from outside:
// every JSON log line is stamped with the time the benchmark received it (ms since spawn; lib/log.ts
// writes synchronously to the stderr pipe, so that is when it was logged), and the peak RSS is
// read from /proc/<pid>/status. Also `ip monitor route` in the same namespace, whose event lines
// are stamped the same way (ip flushes stdout after every event).
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import { SYSTEM_PATH } from '../../lib/exec.ts';
import type { AgentLab, NodeNetns } from './lab.ts';
import { poll } from '../../test/support/poll.ts';

export interface Stamped {
  /** ms since the process was spawned (performance.now() based). */
  t: number;
  /** performance.now() when received. */
  at: number;
  text: string;
}

export interface LogLine extends Stamped {
  msg: string;
  fields: Record<string, unknown>;
}

export interface MemoryStatus {
  hwmKiB: number;
  rssKiB: number;
  anonKiB: number;
  fileKiB: number;
}

/** Stamped lines of a child's output, with waiting for one that matches. */
class LineStream<T extends Stamped> {
  readonly lines: T[] = [];
  private readonly waiters = new Set<{ test: (line: T) => boolean; resolve: (line: T) => void }>();
  private partial = '';
  private readonly t0: number;
  private readonly parse: (base: Stamped) => T;

  constructor(t0: number, parse: (base: Stamped) => T) {
    this.t0 = t0;
    this.parse = parse;
  }

  push(chunk: Buffer): void {
    const at = performance.now();
    const parts = (this.partial + chunk.toString('utf8')).split('\n');
    this.partial = parts.pop() ?? '';
    for (const text of parts) {
      if (!text.trim()) continue;
      const line = this.parse({ t: at - this.t0, at, text });
      this.lines.push(line);
      for (const waiter of this.waiters) {
        if (waiter.test(line)) {
          this.waiters.delete(waiter);
          waiter.resolve(line);
        }
      }
    }
  }

  /** The first line (received at or after `since`, a performance.now() value) passing test. */
  waitFor(test: (line: T) => boolean, what: string, options: { timeoutMs?: number; since?: number; exited?: Promise<unknown> } = {}): Promise<T> {
    const since = options.since ?? 0;
    const found = this.lines.find((line) => line.at >= since && test(line));
    if (found) return Promise.resolve(found);
    return new Promise<T>((resolve, reject) => {
      const waiter = {
        test: (line: T) => line.at >= since && test(line),
        resolve: (line: T) => {
          clearTimeout(timer);
          resolve(line);
        },
      };
      const timer = setTimeout(() => {
        this.waiters.delete(waiter);
        reject(new Error(`timed out after ${options.timeoutMs ?? 60_000} ms waiting for ${what}`));
      }, options.timeoutMs ?? 60_000);
      this.waiters.add(waiter);
      options.exited?.then(() => {
        if (!this.waiters.has(waiter)) return;
        this.waiters.delete(waiter);
        clearTimeout(timer);
        reject(new Error(`the process exited while waiting for ${what}`));
      });
    });
  }
}

function parseLogLine(base: Stamped): LogLine {
  try {
    const fields = JSON.parse(base.text) as Record<string, unknown>;
    return { ...base, msg: String(fields.msg ?? ''), fields };
  } catch {
    return { ...base, msg: base.text, fields: {} };
  }
}

export class AgentProcess {
  readonly child: ChildProcess;
  readonly t0: number;
  readonly log: LineStream<LogLine>;
  readonly exited: Promise<{ code: number | null; t: number }>;
  private readonly executable: string;
  private peak: MemoryStatus | undefined;
  private poller: NodeJS.Timeout | undefined;

  constructor(lab: AgentLab, node: NodeNetns, executable: string, args: readonly string[], env: Record<string, string> = {}) {
    this.executable = fs.realpathSync(executable);
    this.t0 = performance.now();
    this.log = new LineStream(this.t0, parseLogLine);
    // nsenter without --fork setns()es and then execs the agent: same pid, no intermediate process.
    this.child = spawn('nsenter', [`--net=${node.path}`, '--', executable, ...args], {
      env: { PATH: SYSTEM_PATH, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    lab.track(this.child);
    this.child.stdout!.on('data', (chunk: Buffer) => this.log.push(chunk));
    this.child.stderr!.on('data', (chunk: Buffer) => this.log.push(chunk));
    this.exited = new Promise((resolve) => {
      this.child.once('exit', (code) => {
        this.stopPolling();
        resolve({ code, t: performance.now() - this.t0 });
      });
    });
  }

  /**
   * The agent's pid. nsenter execs the agent in place; should a future nsenter fork instead,
   * the agent is its child (/proc/<pid>/task/<tid>/children).
   */
  agentPid(): number | undefined {
    const pid = this.child.pid;
    if (pid === undefined) return undefined;
    try {
      if (fs.readlinkSync(`/proc/${pid}/exe`) === this.executable) return pid;
      for (const task of fs.readdirSync(`/proc/${pid}/task`)) {
        for (const child of fs.readFileSync(`/proc/${pid}/task/${task}/children`, 'utf8').trim().split(/\s+/).filter(Boolean)) {
          if (fs.readlinkSync(`/proc/${child}/exe`) === this.executable) return Number(child);
        }
      }
    } catch {
      // exited, or not exec'd yet
    }
    return undefined;
  }

  memory(): MemoryStatus | undefined {
    const pid = this.agentPid();
    if (pid === undefined) return undefined;
    let text: string;
    try {
      text = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
    } catch {
      return undefined;
    }
    const kib = (key: string) => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(text)?.[1] ?? NaN);
    const status = { hwmKiB: kib('VmHWM'), rssKiB: kib('VmRSS'), anonKiB: kib('RssAnon'), fileKiB: kib('RssFile') };
    return Number.isFinite(status.hwmKiB) ? status : undefined; // a zombie has no Vm* lines
  }

  /**
   * For --once runs, which exit before anyone could ask: VmHWM is monotonic, so polling it every
   * few ms and keeping the last value misses at most the growth of the final few ms.
   */
  pollPeak(everyMs = 5): void {
    const sample = () => {
      const now = this.memory();
      if (now && (!this.peak || now.hwmKiB >= this.peak.hwmKiB)) this.peak = now;
    };
    sample();
    this.poller = setInterval(sample, everyMs);
  }

  private stopPolling(): void {
    if (this.poller) clearInterval(this.poller);
    this.poller = undefined;
  }

  polledPeak(): MemoryStatus | undefined {
    return this.peak;
  }

  waitForLog(test: (line: LogLine) => boolean, what: string, options: { timeoutMs?: number; since?: number } = {}): Promise<LogLine> {
    return this.log.waitFor(test, `agent log: ${what}`, { ...options, exited: this.exited });
  }

  /** SIGTERM (routes and rules stay) and wait; SIGKILL after 10 s. */
  async stop(): Promise<number | null> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return this.child.exitCode;
    this.child.kill('SIGTERM');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 10_000);
    const { code } = await this.exited;
    clearTimeout(timer);
    return code;
  }

  logText(): string {
    return this.log.lines.map((l) => l.text).join('\n');
  }
}

/** `ip monitor route` inside a namespace: route events with the time they reached us. */
export class RouteMonitor {
  readonly child: ChildProcess;
  readonly events: LineStream<Stamped>;
  private readonly exited: Promise<void>;

  constructor(lab: AgentLab, node: NodeNetns) {
    this.events = new LineStream(performance.now(), (base) => base);
    this.child = spawn('nsenter', [`--net=${node.path}`, '--', 'ip', 'monitor', 'route'], {
      env: { PATH: SYSTEM_PATH },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    lab.track(this.child);
    this.child.stdout!.on('data', (chunk: Buffer) => this.events.push(chunk));
    this.child.stderr!.on('data', (chunk: Buffer) => this.events.push(chunk));
    this.exited = new Promise((resolve) => this.child.once('exit', () => resolve()));
  }

  /** Resolves once the monitor is subscribed: a probe route we add shows up in its output. */
  async ready(lab: AgentLab, node: NodeNetns): Promise<void> {
    const probe = '198.51.100.0/24';
    // The subscription may not exist yet when the first probe is added: repeat until one is seen.
    await poll(
      async () => {
        const since = performance.now();
        await lab.inNetns(node, ['ip', 'route', 'replace', 'blackhole', probe, 'proto', '99']);
        try {
          return await this.events.waitFor((l) => l.text.startsWith(`blackhole ${probe}`), 'the monitor probe', { timeoutMs: 200, since, exited: this.exited });
        } catch (error) {
          await lab.inNetns(node, ['ip', 'route', 'del', probe, 'proto', '99']).catch(() => {});
          throw error;
        }
      },
      { timeoutMs: 5000, everyMs: 0, what: 'ip monitor route to subscribe', retryErrors: true },
    );
    await lab.inNetns(node, ['ip', 'route', 'del', probe, 'proto', '99']);
  }

  waitFor(test: (line: Stamped) => boolean, what: string, options: { timeoutMs?: number; since?: number } = {}): Promise<Stamped> {
    return this.events.waitFor(test, `ip monitor: ${what}`, { ...options, exited: this.exited });
  }

  stop(): void {
    if (this.child.exitCode === null) this.child.kill('SIGTERM');
  }
}

