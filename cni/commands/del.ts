// DEL: best-effort and idempotent (spec). Deleting the host end of the veth removes the pod end
// too, so a missing or already-destroyed netns needs no special case. Every step runs; errors
// are collected and reported together.
import { errorMessage } from '../../lib/errors.ts';
import { deleteLink } from '../../lib/iproute2/link.ts';
import { CniError, ErrorCode, toCniError } from '../errors.ts';
import { ipamFor } from '../ipam.ts';
import { hostVethName } from '../plan.ts';
import type { CommandContext } from '../skel.ts';

export async function cmdDel(ctx: CommandContext): Promise<void> {
  const { args, conf, run, log } = ctx;
  const hostVeth = hostVethName(args.containerId, args.ifname);
  const steps: [string, () => Promise<void>][] = [
    [`delete veth ${hostVeth}`, () => deleteLink(run, hostVeth)],
    ['release address', () => ipamFor(conf, args, { run, store: ctx.store }).del()],
  ];
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
  log.info({ hostVeth }, 'pod detached');
}
