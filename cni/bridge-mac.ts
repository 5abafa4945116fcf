// Pinning the MAC of a bridge we did not create (issue 8 item 4). A bridge created without an
// address (by an admin, NetworkManager, an older install) has addr_assign_type "random" (1), and
// while that lasts the kernel gives it the lowest MAC among its ports and changes it whenever
// that port leaves: every pod's cached gateway MAC is then wrong until ARP re-resolves (seconds
// of stalled traffic). Setting the address once makes it "set" (3) and stable for good.
//
// The kernel does not report addr_assign_type over rtnetlink (`ip -d -j link` has no such key),
// and /sys/class/net shows the devices of the netns that mounted sysfs, not necessarily ours.
// The host batch's read-back tells us enough: with at least one port (ours, just added), a bridge
// whose address is not "set" always carries one of its ports' MACs. So:
//   bridge MAC = 0a:58:<gateway>        -> already pinned (the common path: no extra process)
//   bridge MAC = one of its ports' MACs -> kernel-assigned: pin it (one MAC change, once)
//   anything else                       -> someone set it on purpose: leave it, report it
// Concurrent ADDs all pin the same value, so racing is harmless; setting a MAC flushes the
// bridge's neighbour table, which is why the common path never sets it. Pods attached before the
// pin have the old MAC cached: arp_notify on the bridge makes the kernel announce the new one
// (a gratuitous ARP per address), which updates their existing entries at once.
import fs from 'node:fs';
import path from 'node:path';
import type { Logger } from '../lib/log.ts';
import type { Kernel } from '../lib/kernel/kernel.ts';
import type { KernelLink } from '../lib/kernel/link.ts';

export type BridgeMacDecision =
  | { action: 'keep'; mac: string | undefined; reason: 'pinned' | 'set-by-someone' | 'unknown' }
  | { action: 'pin'; mac: string; kernelMac: string };

/** Pure: what to do about the bridge's MAC, from the batch's read-back. */
export function decideBridgeMac(bridge: KernelLink | undefined, ports: KernelLink[], pinned: string): BridgeMacDecision {
  const current = bridge?.mac?.toLowerCase();
  if (!current) return { action: 'keep', mac: undefined, reason: 'unknown' };
  if (current === pinned) return { action: 'keep', mac: current, reason: 'pinned' };
  if (ports.some((p) => p.mac?.toLowerCase() === current)) return { action: 'pin', mac: pinned, kernelMac: current };
  return { action: 'keep', mac: current, reason: 'set-by-someone' };
}

/**
 * Applies the decision; returns the MAC the bridge has afterwards. A failed pin is not worth
 * failing the pod for (it has connectivity now): warn, and the next ADD tries again.
 */
export async function applyBridgeMac(
  kernel: Kernel,
  bridge: string,
  decision: BridgeMacDecision,
  log: Logger,
  options: { procSys?: string } = {},
): Promise<string | undefined> {
  if (decision.action === 'keep') {
    if (decision.reason === 'set-by-someone') log.debug({ bridge, mac: decision.mac }, 'bridge MAC was set by someone else; leaving it');
    return decision.mac;
  }
  // /proc/sys/net follows the writer's netns, unlike /sys/class/net: this is the bridge's own.
  const arpNotify = path.join(options.procSys ?? '/proc/sys', 'net/ipv4/conf', bridge, 'arp_notify');
  try {
    fs.writeFileSync(arpNotify, '1');
  } catch (error) {
    log.debug({ bridge, err: (error as Error).message }, 'cannot enable arp_notify; pods re-learn the gateway MAC when their ARP entries expire');
  }
  try {
    await kernel.apply([{ op: 'set-mac', link: bridge, mac: decision.mac }]);
  } catch (error) {
    log.warn({ bridge, kernelMac: decision.kernelMac, err: (error as Error).message }, 'could not pin the bridge MAC; it follows its ports until pinned');
    return decision.kernelMac;
  }
  log.info({ bridge, from: decision.kernelMac, to: decision.mac }, 'pinned the kernel-assigned bridge MAC');
  return decision.mac;
}
