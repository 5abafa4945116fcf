// Runs the planned uplink steps in order, one `ip` command each (a move happens once per boot,
// so clarity of rollback beats batching). When a step fails, the steps done so far are undone in
// reverse (plan.ts's inverse), so the node is left as it was; the error names the failed step as
// the `ip` command to replay, and any undo that failed too.
import { errorMessage } from '../errors.ts';
import type { Runner } from '../exec.ts';
import type { Logger } from '../log.ts';
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

export async function applyUplinkSteps(run: Runner, steps: readonly UplinkStep[], log: Logger, options: ApplyUplinkOptions = {}): Promise<void> {
  const done: UplinkStep[] = [];
  for (const step of steps) {
    try {
      if (options.failAfter !== undefined && done.length >= options.failAfter) throw new Error(`injected failure after ${done.length} steps (BRIDGEWAY_TEST_UPLINK_FAIL_AFTER)`);
      await runStep(run, step);
      done.push(step);
    } catch (error) {
      const leftovers: string[] = [];
      for (const undo of done.reverse().map(inverse)) {
        try {
          await runStep(run, undo);
        } catch (undoError) {
          leftovers.push(`${spell(undo)}: ${errorMessage(undoError)}`);
        }
      }
      log.error({ step: spell(step), err: errorMessage(error), undone: done.length, leftovers }, 'uplink step failed; undid the steps before it');
      const tail = leftovers.length ? `; rollback incomplete: ${leftovers.join('; ')}` : `; the ${done.length} steps before it were undone`;
      throw new UplinkStepError(`${spell(step)}: ${errorMessage(error)}${tail}`, leftovers);
    }
  }
}

async function runStep(run: Runner, step: UplinkStep): Promise<void> {
  const commands = stepCommands(step);
  for (const [i, argv] of commands.entries()) {
    try {
      await run(argv, { timeoutMs: 10_000 });
    } catch (error) {
      // A new bridge whose alias could not be set is deleted again: the step is all or nothing.
      if (i > 0 && step.op === 'create-bridge') await run(['ip', 'link', 'del', 'dev', step.bridge]).catch(() => undefined);
      throw error;
    }
  }
}
