// Commands inside a network namespace, for the simulated cluster and the integration tests' nodes.
import { createRunner } from '../../lib/exec.ts';

export const run = createRunner();

/** argv inside the namespace at `netnsPath` (nsenter execs in place: the pid is the command's own). */
export function execIn(netnsPath: string, argv: readonly string[], input?: string) {
  return run(['nsenter', `--net=${netnsPath}`, '--', ...argv], { input });
}

/** `ip -j <args>` inside the namespace, parsed ([] when ip prints nothing). */
export async function ipJsonIn(netnsPath: string, args: readonly string[]): Promise<any[]> {
  return JSON.parse((await execIn(netnsPath, ['ip', '-j', ...args])).stdout || '[]');
}

/** Whether `count` pings from the namespace get answers (2 s each at most). */
export async function pings(fromNetns: string, address: string, count = 1): Promise<boolean> {
  try {
    await execIn(fromNetns, ['ping', '-c', String(count), '-W', '2', address]);
    return true;
  } catch {
    return false;
  }
}
