// ADD: address -> plan -> node side (its last change: the port's anti-spoofing elements) -> pod
// side -> result. Each step that succeeds registers its
// undo (the node side undoes itself when it fails halfway), and any failure runs the undos in
// reverse, so a failed ADD leaves no reserved address and no veth. An undo that fails does not
// stop the others, and the error the runtime gets says what was left behind.
import { applyHostSide, applyPodSide } from '../apply.ts';
import { CniError, ErrorCode } from '../errors.ts';
import { reserveAddresses, rollBack, type UndoStep } from '../steps.ts';
import { ipamFor } from '../ipam/index.ts';
import { requireNetns } from '../netns.ts';
import { planAdd, unguardPort } from '../plan.ts';
import { convertResult } from '../result.ts';
import { ensureUplink, uplinkFaultFromEnv } from '../uplink.ts';
import type { CommandContext } from '../skel.ts';
import { hostVethAlias, MAX_ALIAS_LENGTH } from '../../lib/names.ts';

export async function cmdAdd(ctx: CommandContext): Promise<object> {
  const { args, conf, run, kernel, log } = ctx;
  requireNetns(args.netns);
  requireAliasFits(conf.name, args.containerId, args.ifname);
  const target = { containerId: args.containerId, ifname: args.ifname, netns: args.netns };
  // The bridged LAN first: a refusal or a failed move (undone) leaves nothing reserved.
  const uplinkMac = conf.uplink !== undefined ? await ensureUplink(conf, { kernel, log, failAfter: uplinkFaultFromEnv(process.env) }) : undefined;
  const ipam = ipamFor(conf, args, { run, store: ctx.store });
  const undo: UndoStep[] = [];
  try {
    const { pod, addresses } = await reserveAddresses(ipam, undo);
    const plan = planAdd(conf, target, pod);
    // The uplink bridge keeps the NIC's MAC (the LAN knows the node's addresses by it).
    if (uplinkMac) plan.bridgeMac = uplinkMac;
    const { bridgeMac } = await applyHostSide(kernel, plan, target, log, ctx.procSys);
    if (bridgeMac) plan.result.interfaces[0]!.mac = bridgeMac;
    undo.push({ what: `delete veth ${plan.hostVeth}`, action: () => kernel.deleteLinksIfPresent([plan.hostVeth]) });
    // Undone first (the list runs in reverse): the port's elements, then its veth.
    const { guard } = plan;
    if (guard) undo.push({ what: `remove the anti-spoofing elements of ${plan.hostVeth}`, action: () => kernel.apply([unguardPort(plan.hostVeth, guard.elements)]) });
    await applyPodSide(kernel, plan, target, log);
    log.info({ ips: addresses, hostVeth: plan.hostVeth, netns: args.netns }, 'pod attached');
    return convertResult(plan.result, conf.cniVersion);
  } catch (error) {
    return rollBack(undo, error, log);
  }
}

/** The host veth's alias names its owner; refuse before anything is made if it cannot. */
function requireAliasFits(network: string, containerId: string, ifname: string): void {
  const length = hostVethAlias(network, containerId, ifname).length;
  if (length > MAX_ALIAS_LENGTH) {
    throw new CniError(
      ErrorCode.InvalidNetworkConfig,
      `network name ${JSON.stringify(network)} and CNI_CONTAINERID are too long together: the host veth's alias ` +
        `"bridgeway:<network>:<containerId>:<ifname>" would be ${length} characters, the kernel allows ${MAX_ALIAS_LENGTH}`,
    );
  }
}
