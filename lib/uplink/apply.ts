// Runs the planned uplink steps in order through a Kernel (the plugin's: rtnetlink from its own
// process on Bun, so the move starts no process; iproute2 on Node and in the agent's uninstall),
// each step's changes (changes.ts) applied on their own (a move happens once per boot, so clarity
// of rollback beats batching). When a step fails, the steps done so far are undone in reverse
// (plan.ts's inverse), so the node is left as it was; the error names the failed step as the `ip`
// command to replay (ip-command.ts, which only spells), and any undo that failed too.
import { errorMessage } from '../errors.ts';
import type { Kernel } from '../kernel/kernel.ts';
import type { Logger } from '../log.ts';
import { stepChanges } from './changes.ts';
import { stepCommands } from './ip-command.ts';
import { inverse, type UplinkStep } from './plan.ts';

export class UplinkStepError extends Error {
  override readonly name = 'UplinkStepError';
  /** The inverse steps that failed too: what is left of the half-done move. */
  readonly leftovers: string[];
  constructor(message: string, leftovers: string[]) {
    super(message);
    this.leftovers = leftovers;
  }
}

export interface ApplyUplinkOptions {
  /**
   * Tests only (fault injection): fail as if the step after this many had failed, to prove that
   * rollback puts the node back. Never set in production (cni/uplink.ts reads it from the
   * BRIDGEWAY_TEST_UPLINK_FAIL_AFTER variable, which nothing but the tests sets).
   */
  failAfter?: number;
}

const spell = (step: UplinkStep) => stepCommands(step).map((argv) => argv.join(' ')).join(' && ');

export async function applyUplinkSteps(kernel: Kernel, steps: readonly UplinkStep[], log: Logger, options: ApplyUplinkOptions = {}): Promise<void> {
  const done: UplinkStep[] = [];
  for (const step of steps) {
    try {
      if (options.failAfter !== undefined && done.length >= options.failAfter) throw new Error(`injected failure after ${done.length} steps (BRIDGEWAY_TEST_UPLINK_FAIL_AFTER)`);
      await runStep(kernel, step);
      done.push(step);
    } catch (error) {
      const leftovers = await undoAll(kernel, done.reverse().map(inverse));
      log.error({ step: spell(step), err: errorMessage(error), undone: done.length, leftovers }, 'uplink step failed; undid the steps before it');
      const tail = leftovers.length ? `; rollback incomplete: ${leftovers.join('; ')}` : `; the ${done.length} steps before it were undone`;
      throw new UplinkStepError(`${spell(step)}: ${errorMessage(error)}${tail}`, leftovers);
    }
  }
}

/**
 * Runs the undos in order, then once more those that failed: an undo may need one that comes
 * after it (giving a route back through the bridge needs the bridge's prefix route, whose removal
 * came earlier in a release and so is undone later). Resolves with what still failed, spelled.
 */
async function undoAll(kernel: Kernel, undos: readonly UplinkStep[]): Promise<string[]> {
  let failed: { undo: UplinkStep; error: unknown }[] = [];
  for (const pass of [undos, null]) {
    const todo = pass ?? failed.map((f) => f.undo);
    if (todo.length === 0) break;
    failed = [];
    for (const undo of todo) {
      try {
        await runStep(kernel, undo);
      } catch (error) {
        failed.push({ undo, error });
      }
    }
  }
  return failed.map((f) => `${spell(f.undo)}: ${errorMessage(f.error)}`);
}

/** One step, all or nothing: a new bridge whose alias could not be set is deleted again. */
async function runStep(kernel: Kernel, step: UplinkStep): Promise<void> {
  for (const [i, change] of stepChanges(step).entries()) {
    try {
      await kernel.apply([change]);
    } catch (error) {
      if (i > 0 && step.op === 'create-bridge') await kernel.deleteLinksIfPresent([step.bridge]).catch(() => undefined);
      throw error;
    }
  }
}
