// The two ways the plugin's commands run a list of kernel and store steps, shared by every
// attachment kind (bridge, macvlan, Open vSwitch):
// - ADD: each step done pushes its undo; a failure runs the undos in reverse, so a failed ADD
//   leaves nothing. An undo that fails does not stop the others, and the error then names what
//   is left so the runtime's DEL (or the admin) can finish it.
// - DEL: every step runs past the others' failures (a veth already gone must not keep the
//   address reserved), and one error names all that failed, with the first failure's code.
import { formatCidr } from '../lib/cidr.ts';
import { errorMessage } from '../lib/errors.ts';
import type { Logger } from '../lib/log.ts';
import { CniError, ErrorCode, toCniError } from './errors.ts';
import type { IpamBackend } from './ipam/backend.ts';

export interface UndoStep {
  what: string;
  action: () => Promise<unknown>;
}

/** Undoes `undo` in reverse after `error`; throws `error` as a CniError, naming any undo that failed. */
export async function rollBack(undo: readonly UndoStep[], error: unknown, log: Logger): Promise<never> {
  const leftovers: string[] = [];
  for (const step of [...undo].reverse()) {
    try {
      await step.action();
    } catch (undoError) {
      log.error({ err: errorMessage(undoError) }, `rollback step failed: ${step.what}`);
      leftovers.push(`${step.what}: ${errorMessage(undoError)}`);
    }
  }
  const cause = toCniError(error);
  if (leftovers.length === 0) throw cause;
  throw new CniError(cause.code, `${cause.message}; rollback incomplete (${leftovers.join('; ')}): DEL this attachment to clean up`, cause.details);
}

/** Runs every step past the others' failures; rejects with one CniError naming each that failed. */
export async function runEveryStep(steps: readonly (readonly [string, () => Promise<unknown>])[]): Promise<void> {
  const failures: string[] = [];
  let firstCode: number = ErrorCode.IoFailure;
  for (const [what, action] of steps) {
    try {
      await action();
    } catch (error) {
      if (failures.length === 0) firstCode = toCniError(error).code;
      failures.push(`${what}: ${errorMessage(error)}`);
    }
  }
  if (failures.length > 0) throw new CniError(firstCode, `DEL incomplete: ${failures.join('; ')}`);
}

/**
 * ADD's first step for every kind: the attachment's addresses, with their release as the first
 * undo. An address the attachment already held (a retried ADD) may be in use: never released here.
 */
export async function reserveAddresses(ipam: IpamBackend, undo: UndoStep[]): Promise<{ pod: Awaited<ReturnType<IpamBackend['add']>>; addresses: string[] }> {
  const pod = await ipam.add();
  const addresses = pod.ips.map((ip) => formatCidr(ip.address));
  if (pod.fresh.length > 0) undo.push({ what: `release ${addresses.join(' and ')}`, action: () => ipam.del(pod.fresh) });
  return { pod, addresses };
}
