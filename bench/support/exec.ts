// Process runs for the benchmark. The bench measures the plugin from the outside, as a runtime
// sees it, so it spawns with node:child_process directly (not through lib/exec.ts, which is the
// plugin's own runner).
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import fs from 'node:fs';

/** PATH for the bench's own helper commands, and for the reference plugin (it execs host-local). */
export const SYSTEM_PATH = '/usr/sbin:/usr/bin:/sbin:/bin';
export const NSENTER = '/usr/bin/nsenter';
export const IP = '/usr/sbin/ip';
export const STRACE = '/usr/bin/strace';

const TIMEOUT_MS = 30_000;

/** Children still running, so an interrupted bench can stop them before it cleans up. */
const running = new Set<ChildProcess>();

export interface Invocation {
  argv: readonly string[];
  /** The child's whole environment: nothing is inherited from the bench. */
  env: Record<string, string>;
  input?: string;
}

export interface Outcome {
  /** Wall clock from spawn() until the process exited and its stdout/stderr were closed. */
  ms: number;
  exitCode: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Runs one process and times it; resolves whatever the exit status (callers judge it). */
export function timedRun(invocation: Invocation): Promise<Outcome> {
  return new Promise((resolve, reject) => {
    const [command, ...args] = invocation.argv;
    if (!command) throw new Error('timedRun: empty argv');
    const start = process.hrtime.bigint();
    const child = spawn(command, args, {
      env: invocation.env,
      stdio: ['pipe', 'pipe', 'pipe'],
      timeout: TIMEOUT_MS,
      killSignal: 'SIGKILL',
    });
    running.add(child);
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (chunk: Buffer) => out.push(chunk));
    child.stderr.on('data', (chunk: Buffer) => err.push(chunk));
    child.stdin.on('error', () => {}); // EPIPE from a child that never reads stdin (the floor)
    child.stdin.end(invocation.input ?? '');
    child.on('error', reject);
    child.on('close', (exitCode, signal) => {
      running.delete(child);
      const ms = Number(process.hrtime.bigint() - start) / 1e6;
      resolve({ ms, exitCode, signal, stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8') });
    });
  });
}

/** Kills every child still running; returns them. */
export function killAll(): ChildProcess[] {
  const children = [...running].filter((child) => child.exitCode === null && child.signalCode === null);
  for (const child of children) child.kill('SIGKILL');
  return children;
}

/** Kills every child still running and waits until they are gone. */
export async function stopAll(): Promise<void> {
  await Promise.all(killAll().map((child) => once(child, 'exit')));
}

/** Like timedRun, but any exit other than 0 is an error naming the command and its output. */
export async function mustRun(invocation: Invocation): Promise<Outcome> {
  const outcome = await timedRun(invocation);
  if (outcome.exitCode !== 0) throw new Error(`${describe(invocation, outcome)}`);
  return outcome;
}

/** Wall times of a batch of runs, and the CPU time they used on average (descendants included). */
export interface Timings {
  samples: number[];
  cpuMs: number;
}

/** Runs a fresh invocation `count` times, one after another. */
export async function timeRepeatedly(count: number, make: () => Invocation): Promise<Timings> {
  const samples: number[] = [];
  const cpu = childrenCpuMs();
  for (let i = 0; i < count; i++) samples.push((await mustRun(make())).ms);
  return { samples, cpuMs: (childrenCpuMs() - cpu) / count };
}

/** Clock ticks per second of /proc/<pid>/stat times (USER_HZ, 100 on every Linux build we run). */
const CLK_TCK = 100;

/**
 * User + system CPU time of every child this process has reaped (and, transitively, of their
 * reaped descendants), from /proc/self/stat cutime + cstime. Only 10 ms resolution, so take
 * differences over many runs; unlike wall time it barely moves when other work shares the CPUs.
 */
export function childrenCpuMs(): number {
  const stat = fs.readFileSync('/proc/self/stat', 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' '); // fields from 3 (state) on
  return ((Number(fields[16 - 3]) + Number(fields[17 - 3])) * 1000) / CLK_TCK;
}

export function describe(invocation: Invocation, outcome: Outcome): string {
  const status = outcome.signal ? `killed by ${outcome.signal}` : `exit ${outcome.exitCode}`;
  const output = [outcome.stdout.trim(), outcome.stderr.trim()].filter(Boolean).join('\n').slice(0, 2000);
  return `${invocation.argv.join(' ')}: ${status}${output ? `\n${output}` : ''}`;
}

/** Synchronous, for cleanup from a signal handler; failures are returned, not thrown. */
export function runSync(argv: readonly string[], input?: string): string | undefined {
  const [command, ...args] = argv;
  try {
    execFileSync(command!, args, { input, env: { PATH: SYSTEM_PATH }, stdio: ['pipe', 'ignore', 'pipe'] });
    return undefined;
  } catch (error) {
    return (error as { stderr?: Buffer }).stderr?.toString().trim() || (error as Error).message;
  }
}

/** The bench's own helper commands (ip, mostly) run with only the system PATH. */
export function helperEnv(): Record<string, string> {
  return { PATH: SYSTEM_PATH };
}
