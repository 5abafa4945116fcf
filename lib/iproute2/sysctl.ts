// Sysctls where the plugin cannot enter a namespace itself (the bundle on Node): `ip -batch` has
// no line for them, so one `tee` process started in the namespace (nsenter) writes every file of a
// value, the value on stdin. /proc/sys/net shows the namespace of the process that opens the file,
// which is tee, inside. Argument arrays only, no shell: a key never becomes code. The plan gives
// every sysctl the same value ("0"), so a batch costs one extra process.
import { CommandError, type Runner } from '../exec.ts';
import type { SysctlChange } from '../kernel/change.ts';
import { KernelChangeError, type ChangeFailure } from '../kernel/errors.ts';
import { sysctlPath } from '../sysctl.ts';
import { describeChange } from './change-command.ts';
import { inNetns } from './netns.ts';

const PROC_SYS = '/proc/sys';

/** Writes the sysctls in the namespace (the caller's without one); tolerated absences are no error. */
export async function writeSysctls(run: Runner, changes: readonly SysctlChange[], options: { netns?: string } = {}): Promise<void> {
  const failures: ChangeFailure[] = [];
  for (const [value, group] of groupByValue(changes)) {
    const files = group.map((change) => sysctlPath(PROC_SYS, change.key));
    try {
      await run(inNetns(options.netns, ['tee', ...files]), { input: `${value}\n` });
    } catch (error) {
      if (!(error instanceof CommandError) || error.exitCode === null) throw error;
      const failed = teeFailures(error.stderr, group, files);
      if (failed.length === 0) throw error; // not tee's (nsenter could not enter): say it as it is
      failures.push(...failed.filter(({ change, kind }) => kind !== change.tolerate).map(({ failure }) => failure));
    }
  }
  if (failures.length > 0) throw new KernelChangeError(failures);
}

/**
 * Reads the sysctls in the namespace with one `grep -H ''` process: it prints `<file>:<value>` for
 * each file it can read and goes on past one the kernel does not have (exit status 2), which
 * reads as undefined.
 */
export async function readSysctls(run: Runner, keys: readonly string[], options: { netns?: string } = {}): Promise<Map<string, string | undefined>> {
  const files = keys.map((key) => sysctlPath(PROC_SYS, key));
  let stdout: string;
  try {
    stdout = (await run(inNetns(options.netns, ['grep', '-H', '', ...files]))).stdout;
  } catch (error) {
    // grep exits 2 when a file is missing, having printed the others; anything else is a failure.
    if (!(error instanceof CommandError) || error.exitCode !== 2 || !/No such file or directory/.test(error.stderr)) throw error;
    stdout = error.stdout;
  }
  const values = new Map(stdout.split('\n').flatMap((line) => {
    const file = files.find((f) => line.startsWith(`${f}:`));
    return file ? [[file, line.slice(file.length + 1).trim()] as const] : [];
  }));
  return new Map(keys.map((key, i) => [key, values.get(files[i]!)]));
}

function groupByValue(changes: readonly SysctlChange[]): Map<string, SysctlChange[]> {
  const groups = new Map<string, SysctlChange[]>();
  for (const change of changes) groups.set(change.value, [...(groups.get(change.value) ?? []), change]);
  return groups;
}

/** tee goes on past a file it cannot open or write, and says `tee: <file>: <reason>` for each. */
function teeFailures(stderr: string, group: readonly SysctlChange[], files: readonly string[]) {
  return stderr.split('\n').flatMap((line) => {
    const index = files.findIndex((file) => line.startsWith(`tee: ${file}: `));
    if (index < 0) return [];
    const change = group[index]!;
    const message = line.slice(`tee: ${files[index]}: `.length).trim();
    const kind: ChangeFailure['kind'] = /No such file or directory/.test(message) ? 'missing' : 'other';
    return [{ change, kind, failure: { what: describeChange(change), message, kind } }];
  });
}
