// Where one plugin invocation spends its time, from an strace of its process tree: only execve
// is traced (with a seccomp filter, so untraced syscalls run at full speed), which yields when
// the plugin started, when each child process ran, and when the plugin exited. Everything between
// those points is the plugin's own work: Node start-up, JavaScript, fork().
import fs from 'node:fs';
import path from 'node:path';
import { STRACE, timedRun, type Invocation, type Outcome } from './exec.ts';
import { cniInvocation, expectAddResult, expectSuccess, type PluginUnderTest } from './plugins.ts';
import { PHASES, podsIn, type Phase } from './rounds.ts';

interface TracedProcess {
  execs: { at: number; program: string; argv: string[] }[];
  exitAt?: number;
}

export interface Segment {
  label: string;
  ms: number;
}

export interface Timeline {
  totalMs: number;
  segments: Segment[];
  children: number;
}

const EXEC_LINE = /^(\d+\.\d+) execve\("([^"]+)", (\[.*?\]), .*\) = 0$/;
const EXIT_LINE = /^(\d+\.\d+) \+\+\+ (exited with|killed by)/;

/** Runs the invocation under strace (stdout/stderr unchanged) and reads back its timeline. */
export async function traceInvocation(invocation: Invocation, dir: string, executable: string): Promise<{ outcome: Outcome; timeline: Timeline }> {
  fs.rmSync(dir, { recursive: true, force: true });
  fs.mkdirSync(dir, { recursive: true });
  const argv = [STRACE, '-f', '-ff', '-o', path.join(dir, 't'), '-ttt', '-q', '--seccomp-bpf', '-e', 'trace=execve', '--', ...invocation.argv];
  const outcome = await timedRun({ ...invocation, argv });
  const processes = fs.readdirSync(dir).map((name) => parseTrace(fs.readFileSync(path.join(dir, name), 'utf8')));
  fs.rmSync(dir, { recursive: true, force: true });
  return { outcome, timeline: buildTimeline(processes, executable) };
}

function parseTrace(text: string): TracedProcess {
  const traced: TracedProcess = { execs: [] };
  for (const line of text.split('\n')) {
    const exec = EXEC_LINE.exec(line);
    if (exec) traced.execs.push({ at: Number(exec[1]), program: path.basename(exec[2]!), argv: parseArgv(exec[3]!) });
    const exit = EXIT_LINE.exec(line);
    if (exit) traced.exitAt = Number(exit[1]);
  }
  return traced;
}

function parseArgv(text: string): string[] {
  try {
    return JSON.parse(text.replace(/\.\.\.\]$/, ']')) as string[]; // strace quotes like JSON for plain arguments
  } catch {
    return [];
  }
}

function buildTimeline(processes: TracedProcess[], executable: string): Timeline {
  const program = path.basename(executable);
  const root = processes.find((p) => p.execs.some((e) => e.program === program));
  const rootStart = root?.execs.find((e) => e.program === program)?.at;
  if (!root || rootStart === undefined || root.exitAt === undefined) throw new Error(`strace: no complete run of ${program}`);
  const children = processes
    .filter((p) => p !== root && p.execs.length > 0 && p.exitAt !== undefined)
    .sort((a, b) => a.execs[0]!.at - b.execs[0]!.at);

  const segments: Segment[] = [];
  let cursor = rootStart;
  for (const [i, child] of children.entries()) {
    const start = child.execs[0]!.at;
    segments.push({ label: i === 0 ? 'start -> first child exec (start-up + own work)' : 'between children (own work + fork)', ms: (start - cursor) * 1e3 });
    segments.push({ label: `  child: ${childLabel(child)}`, ms: (child.exitAt! - start) * 1e3 });
    cursor = child.exitAt!;
  }
  segments.push({ label: children.length > 0 ? 'last child exit -> exit' : 'start -> exit', ms: (root.exitAt - cursor) * 1e3 });
  return { totalMs: (root.exitAt - rootStart) * 1e3, segments, children: children.length };
}

/** e.g. "nsenter -> ip -force -batch -" (exec chain, then the final program's arguments). */
function childLabel(child: TracedProcess): string {
  const last = child.execs[child.execs.length - 1]!;
  const args = last.argv.slice(1).filter((arg) => !arg.startsWith('/')).join(' ');
  const chain = child.execs.map((e) => e.program).join(' -> ');
  return `${chain}${args ? ` ${args}` : ''}`.slice(0, 60);
}

/** Traces one ADD -> CHECK -> DEL cycle per pod namespace; returns the median timeline per command. */
export async function traceCycles(plugin: PluginUnderTest, podNetns: readonly string[], dir: string): Promise<Record<Phase, Timeline>> {
  const timelines: Record<Phase, Timeline[]> = { ADD: [], CHECK: [], DEL: [] };
  for (const pod of podsIn(podNetns, 'trace', plugin)) {
    let prevResult: unknown;
    for (const command of PHASES) {
      const invocation = cniInvocation(plugin, command, pod, prevResult);
      const { outcome, timeline } = await traceInvocation(invocation, dir, plugin.executable);
      if (command === 'ADD') prevResult = expectAddResult(invocation, outcome).json;
      else expectSuccess(invocation, outcome);
      timelines[command].push(timeline);
    }
  }
  const median = (list: Timeline[]): Timeline => [...list].sort((a, b) => a.totalMs - b.totalMs)[Math.floor(list.length / 2)]!;
  return { ADD: median(timelines.ADD), CHECK: median(timelines.CHECK), DEL: median(timelines.DEL) };
}
