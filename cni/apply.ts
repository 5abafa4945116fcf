// Applies an AddPlan to the kernel: one `ip` process on the node, one inside the pod's netns.
import type { Runner } from '../lib/exec.ts';
import type { Logger } from '../lib/log.ts';
import { IpBatchError, runIpBatch } from '../lib/iproute2/batch.ts';
import { deleteLink, getLink, type IpLink } from '../lib/iproute2/link.ts';
import { applyBridgeMac, decideBridgeMac } from './bridge-mac.ts';
import { refuseRouterAdvertisements } from './bridge-ipv6.ts';
import { CniError, ErrorCode } from './errors.ts';
import type { AddPlan, AddTarget } from './plan.ts';

/**
 * Bridge + veth pair, all or nothing: on failure the veth is gone again (the bridge stays, shared).
 * When the veth cannot be created because a name is taken, tell apart the two cases: the pod
 * already has CNI_IFNAME (the runtime's mistake: error, touch nothing), or our host end survived
 * an interrupted ADD of this same attachment (remove it, try once more).
 */
export async function applyHostSide(run: Runner, plan: AddPlan, target: AddTarget, log: Logger, procSys: string): Promise<{ bridgeMac?: string }> {
  const documents = await createHostSide(run, plan, target, log);
  if (plan.bridgeIpv6) {
    try {
      refuseRouterAdvertisements(procSys, plan.bridge);
    } catch (error) {
      await deleteLink(run, plan.hostVeth);
      throw error;
    }
  }
  const { bridge, ports } = readBack(documents);
  return { bridgeMac: await applyBridgeMac(run, plan.bridge, decideBridgeMac(bridge, ports, plan.bridgeMac), log) };
}

async function createHostSide(run: Runner, plan: AddPlan, target: AddTarget, log: Logger): Promise<unknown[][]> {
  try {
    return await runIpBatch(run, plan.hostCommands);
  } catch (error) {
    if (!(error instanceof IpBatchError) || !error.has('exists')) {
      await deleteLink(run, plan.hostVeth);
      throw error;
    }
  }
  if (await getLink(run, target.ifname, { netns: target.netns })) {
    throw new CniError(ErrorCode.InterfaceExists, `interface ${target.ifname} already exists in ${target.netns}; choose another CNI_IFNAME or DEL the attachment first`);
  }
  log.warn({ hostVeth: plan.hostVeth }, 'removing a stale host veth left by an interrupted ADD');
  await deleteLink(run, plan.hostVeth);
  try {
    return await runIpBatch(run, plan.hostCommands);
  } catch (error) {
    await deleteLink(run, plan.hostVeth);
    throw error;
  }
}

/** The batch's two final `link show`s: the bridge, then its ports. */
function readBack(documents: unknown[][]): { bridge?: IpLink; ports: IpLink[] } {
  return { bridge: documents.at(-2)?.[0] as IpLink | undefined, ports: (documents.at(-1) ?? []) as IpLink[] };
}

/**
 * Pod side, then make sure the veth carries traffic before the runtime starts the pod: until
 * the kernel has seen carrier on both ends, the bridge port does not forward and the pod's first
 * packets (typically its first DNS query, retried only after seconds) are lost. Almost always
 * already true when the batch ends; otherwise wait briefly, as the reference plugin does.
 */
export async function applyPodSide(run: Runner, plan: AddPlan, target: AddTarget, log: Logger): Promise<void> {
  const documents = await runIpBatch(run, plan.podCommands, { netns: target.netns });
  if ((documents.at(-1)?.[0] as IpLink | undefined)?.operstate === 'UP') return;
  for (let waited = 0; waited < CARRIER_WAIT_MS; waited += CARRIER_POLL_MS) {
    await new Promise((resolve) => setTimeout(resolve, CARRIER_POLL_MS));
    if ((await getLink(run, plan.hostVeth))?.operstate === 'UP') return;
  }
  log.warn({ hostVeth: plan.hostVeth }, `host veth not operationally up after ${CARRIER_WAIT_MS} ms; continuing`);
}

const CARRIER_WAIT_MS = 1000;
const CARRIER_POLL_MS = 50; // each poll is an ip process (~15-35 ms here)
