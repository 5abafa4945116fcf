// ADD in macvlan mode: read the node (the master, its MTU) -> address -> plan -> [host shim] ->
// the pod's macvlan (born in the pod) -> the pod's side -> announce its MAC -> result. As in
// bridge mode each step that succeeds registers its undo, and a failure runs them in reverse:
// no reserved address and no macvlan are left. The host shim is the node's, shared by every
// attachment on the master, and stays (as the bridge does).
import { errorMessage } from '../../lib/errors.ts';
import { KernelChangeError } from '../../lib/kernel/errors.ts';
import type { Kernel } from '../../lib/kernel/kernel.ts';
import type { Logger } from '../../lib/log.ts';
import { announcements, type Frame } from '../../lib/packet/announce.ts';
import { CniError, ErrorCode } from '../errors.ts';
import { reserveAddresses, rollBack, type UndoStep } from '../steps.ts';
import { ipamFor } from '../ipam/index.ts';
import { requireNetns } from '../netns.ts';
import type { AddTarget } from '../plan.ts';
import { convertResult } from '../result.ts';
import type { CommandContext } from '../skel.ts';
import { podMtu, resolveMaster, type Master } from './master.ts';
import { planMacvlanAdd, type MacvlanPlan } from './plan.ts';
import { planHostShim } from './shim.ts';

/** Sends frames out of the interface at ifindex in the namespace (lib/packet/socket.ts on Bun). */
export type Announce = (netns: string, ifindex: number, frames: readonly Frame[]) => void;

export interface MacvlanDeps {
  /** Throws where no packet socket can be made (the bundle on Node): ADD then warns that it did not announce. */
  announce: Announce;
}

export async function macvlanAdd(ctx: CommandContext, deps: MacvlanDeps): Promise<object> {
  const { args, conf, run, kernel, log } = ctx;
  const macvlan = conf.macvlan!;
  requireNetns(args.netns);
  // Everything the node must be for this config, checked before anything is reserved or made.
  const master = resolveMaster(macvlan, await kernel.readNamespace('', { ipv6: true }));
  const mtu = podMtu(macvlan, master);
  const target = { containerId: args.containerId, ifname: args.ifname, netns: args.netns };
  const ipam = ipamFor(conf, args, { run, store: ctx.store });
  const undo: UndoStep[] = [];
  try {
    const { pod, addresses } = await reserveAddresses(ipam, undo);
    const plan = planMacvlanAdd(conf, macvlan, master, mtu, target, pod);
    if (macvlan.hostShim && conf.ipam.kind === 'builtin') {
      await kernel.apply(planHostShim(master, conf.ipam.ranges).changes);
    }
    await createMacvlan(kernel, plan, target, master, log);
    undo.push({ what: `delete ${target.ifname} in ${target.netns}`, action: () => kernel.apply([{ op: 'delete-link', link: target.ifname }], [], target.netns) });
    const [links] = await kernel.apply(plan.podChanges, [{ op: 'show-link', link: target.ifname }], target.netns);
    const link = links![0]!;
    const mac = link.mac ?? plan.mac!;
    plan.result.interfaces[0]!.mac = mac;
    announce(deps, target, link.index, mac, pod.ips.map((ip) => ({ family: ip.address.family, value: ip.address.address })), log);
    log.info({ ips: addresses, master: master.name, macvlanMode: macvlan.mode, mac, netns: args.netns }, 'pod attached (macvlan)');
    return convertResult(plan.result, conf.cniVersion);
  } catch (error) {
    return rollBack(undo, error, log);
  }
}

/**
 * The pod's macvlan, made inside the pod. A name taken in the pod: our own macvlan left by an
 * interrupted ADD of this attachment (its MAC is the one this plan derives) is removed and made
 * again; anything else is the runtime's mistake, and is left alone. The kernel refuses a macvlan
 * beside a passthru one, and a passthru one beside any: said in words, since EINVAL says nothing.
 */
async function createMacvlan(kernel: Kernel, plan: MacvlanPlan, target: AddTarget, master: Master, log: Logger): Promise<void> {
  try {
    await kernel.apply(plan.nodeChanges);
    return;
  } catch (error) {
    if (!(error instanceof KernelChangeError)) throw error;
    if (!error.has('exists')) throw explainRefusal(error, plan, master);
  }
  const existing = await kernel.getLink(target.ifname, target.netns);
  if (!existing || existing.kind !== 'macvlan' || !plan.mac || existing.mac !== plan.mac) {
    throw new CniError(ErrorCode.InterfaceExists, `interface ${target.ifname} already exists in ${target.netns}; choose another CNI_IFNAME or DEL the attachment first`);
  }
  log.warn({ ifname: target.ifname }, 'removing a macvlan left by an interrupted ADD of this attachment');
  await kernel.apply([{ op: 'delete-link', link: target.ifname }], [], target.netns);
  try {
    await kernel.apply(plan.nodeChanges);
  } catch (error) {
    throw error instanceof KernelChangeError ? explainRefusal(error, plan, master) : error;
  }
}

function explainRefusal(error: KernelChangeError, plan: MacvlanPlan, master: Master): Error {
  const change = plan.nodeChanges[0];
  const passthru = change?.op === 'add-macvlan' && change.mode === 'passthru';
  if (error.failures.some((f) => /invalid argument/i.test(f.message))) {
    const why = passthru
      ? `a passthru macvlan takes the NIC alone, and ${master.name} already has a macvlan (another attachment, or the host shim): one passthru attachment per master`
      : `${master.name} may already carry a passthru macvlan, which allows nothing beside it`;
    return new CniError(ErrorCode.InvalidNetworkConfig, `the kernel refused a macvlan of ${master.name}: ${why} (${error.message})`);
  }
  return error;
}

/**
 * A gratuitous ARP per IPv4 address and an unsolicited NA per IPv6 address, from the pod's own
 * interface, so switches and neighbours learn the new MAC now rather than at the pod's first
 * packet. Best effort: the pod works without it (the LAN learns at its first packet), so a failure
 * is a warning, not a failed ADD.
 */
function announce(deps: MacvlanDeps, target: AddTarget, ifindex: number, mac: string, ips: Parameters<typeof announcements>[1], log: Logger): void {
  try {
    deps.announce(target.netns, ifindex, announcements(mac, ips));
  } catch (error) {
    log.warn({ err: errorMessage(error), ifname: target.ifname }, 'could not announce the pod\'s MAC');
  }
}
