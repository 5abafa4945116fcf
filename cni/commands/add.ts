// ADD: address -> plan -> node side -> pod side -> result. Each step that succeeds registers its
// undo (the node side undoes itself when it fails halfway), and any failure runs the undos in
// reverse, so a failed ADD leaves no reserved address and no veth.
import { formatCidr } from '../../lib/cidr.ts';
import { deleteLink } from '../../lib/iproute2/link.ts';
import { applyHostSide, applyPodSide } from '../apply.ts';
import { ipamFor } from '../ipam.ts';
import { requireNetns } from '../netns.ts';
import { planAdd } from '../plan.ts';
import { convertResult } from '../result.ts';
import type { CommandContext } from '../skel.ts';

export async function cmdAdd(ctx: CommandContext): Promise<object> {
  const { args, conf, run, log } = ctx;
  requireNetns(args.netns);
  const target = { containerId: args.containerId, ifname: args.ifname, netns: args.netns };
  const ipam = ipamFor(conf, args, { run, store: ctx.store });
  const undo: { what: string; action: () => Promise<void> }[] = [];
  try {
    const pod = await ipam.add();
    // An address the attachment already held (a retried ADD) may be in use: never release it here.
    if (pod.fresh) undo.push({ what: 'release address', action: () => ipam.del() });
    const plan = planAdd(conf, target, pod);
    const { bridgeMac } = await applyHostSide(run, plan, target, log);
    if (bridgeMac) plan.result.interfaces[0]!.mac = bridgeMac;
    undo.push({ what: 'delete veth', action: () => deleteLink(run, plan.hostVeth) });
    await applyPodSide(run, plan, target, log);
    log.info({ ip: formatCidr(pod.address), hostVeth: plan.hostVeth, netns: args.netns }, 'pod attached');
    return convertResult(plan.result, conf.cniVersion);
  } catch (error) {
    for (const step of undo.reverse()) {
      try {
        await step.action();
      } catch (undoError) {
        log.error({ err: (undoError as Error).message }, `rollback step failed: ${step.what}`);
      }
    }
    throw error;
  }
}
