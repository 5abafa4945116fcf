// Applies an AddPlan to the kernel: one batch of changes on the node, one inside the pod's netns
// (each one `ip` process with the iproute2 backend, a few messages on a socket with rtnetlink).
import type { Logger } from '../lib/log.ts';
import type { LinkQuery } from '../lib/kernel/change.ts';
import { KernelChangeError } from '../lib/kernel/errors.ts';
import type { Kernel } from '../lib/kernel/kernel.ts';
import type { KernelLink } from '../lib/kernel/link.ts';
import { applyBridgeMac, decideBridgeMac } from './bridge-mac.ts';
import { refuseRouterAdvertisements } from './bridge-ipv6.ts';
import { CniError, ErrorCode } from './errors.ts';
import { unguardPort, type AddPlan, type AddTarget } from './plan.ts';

/**
 * Bridge + veth pair (+ the port's anti-spoofing elements), all or nothing: on failure the
 * elements and the veth are gone again (the bridge and the table stay, shared).
 * When the veth cannot be created because a name is taken, tell apart the two cases: the pod
 * already has CNI_IFNAME (the runtime's mistake: error, touch nothing), or our host end survived
 * an interrupted ADD of this same attachment (remove it, try once more).
 */
export async function applyHostSide(kernel: Kernel, plan: AddPlan, target: AddTarget, log: Logger, procSys: string): Promise<{ bridgeMac?: string }> {
  const [bridgeLinks, ports] = await createHostSide(kernel, plan, target, log);
  if (plan.bridgeIpv6) {
    try {
      refuseRouterAdvertisements(procSys, plan.bridge);
    } catch (error) {
      await undoHostSide(kernel, plan);
      throw error;
    }
  }
  return { bridgeMac: await applyBridgeMac(kernel, plan.bridge, decideBridgeMac(bridgeLinks?.[0], ports ?? [], plan.bridgeMac), log) };
}

/** The port's elements (when guarded), then the veth: an element never outlives its port for long. */
async function undoHostSide(kernel: Kernel, plan: AddPlan): Promise<void> {
  try {
    if (plan.guard) await kernel.apply([unguardPort(plan.hostVeth, plan.guard.elements)]);
  } finally {
    await kernel.deleteLinksIfPresent([plan.hostVeth]);
  }
}

/**
 * Read back after the changes: the bridge, then its ports. A bridge we did not create may have a
 * MAC the kernel derives from its ports (bridge-mac.ts decides). Bridge first: a port a
 * concurrent ADD adds in between is then in the list, not missing from it.
 */
function hostQueries(plan: AddPlan): LinkQuery[] {
  return [{ op: 'show-link', link: plan.bridge }, { op: 'show-ports', bridge: plan.bridge }];
}

export async function createHostSide(kernel: Kernel, plan: AddPlan, target: AddTarget, log: Logger, queries: readonly LinkQuery[] = hostQueries(plan)): Promise<KernelLink[][]> {
  try {
    return await kernel.apply(plan.hostChanges, queries);
  } catch (error) {
    if (!(error instanceof KernelChangeError) || !error.has('exists')) {
      await undoHostSide(kernel, plan);
      throw error;
    }
  }
  if (await kernel.getLink(target.ifname, target.netns)) {
    throw new CniError(ErrorCode.InterfaceExists, `interface ${target.ifname} already exists in ${target.netns}; choose another CNI_IFNAME or DEL the attachment first`);
  }
  log.warn({ hostVeth: plan.hostVeth }, 'removing a stale host veth left by an interrupted ADD');
  await kernel.deleteLinksIfPresent([plan.hostVeth]);
  try {
    return await kernel.apply(plan.hostChanges, queries);
  } catch (error) {
    await undoHostSide(kernel, plan);
    throw error;
  }
}

/**
 * Pod side, then make sure the veth carries traffic before the runtime starts the pod: until
 * the kernel has seen carrier on both ends, the bridge port does not forward and the pod's first
 * packets (typically its first DNS query, retried only after seconds) are lost. Almost always
 * already true when the batch ends; otherwise wait briefly, as the reference plugin does.
 */
export async function applyPodSide(kernel: Kernel, plan: AddPlan, target: AddTarget, log: Logger): Promise<void> {
  // Read back in the same batch: is the link operationally up (carrier on both ends)?
  const [podLink] = await kernel.apply(plan.podChanges, [{ op: 'show-link', link: target.ifname }], target.netns);
  if (podLink?.[0]?.operState === 'UP') return;
  for (let waited = 0; waited < CARRIER_WAIT_MS; waited += CARRIER_POLL_MS) {
    await new Promise((resolve) => setTimeout(resolve, CARRIER_POLL_MS));
    if ((await kernel.getLink(plan.hostVeth))?.operState === 'UP') return;
  }
  log.warn({ hostVeth: plan.hostVeth }, `host veth not operationally up after ${CARRIER_WAIT_MS} ms; continuing`);
}

const CARRIER_WAIT_MS = 1000;
const CARRIER_POLL_MS = 50; // with iproute2 each poll is an ip process (~15-35 ms here)
