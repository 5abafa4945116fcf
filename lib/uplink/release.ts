// Uninstall's part of the bridged LAN: every bridge marked as holding an uplink for us
// (plan.ts's alias) gives the NIC back its addresses and routes and lets it go (the move in
// reverse, undone if it fails half-way), and is deleted unless ports that are not ours are on it.
// Not ours: anything but the uplink NIC and the plugin's host veths (their alias names their
// network, lib/names.ts), e.g. a libvirt VM's vnetN tap; deleting the bridge would cut the VM
// off its LAN, so the bridge stays for the admin, and the message says so. Idempotent: a second
// run finds no marked bridge.
import type { Kernel } from '../kernel/kernel.ts';
import type { Logger } from '../log.ts';
import { parseHostVethAlias } from '../names.ts';
import { applyUplinkSteps } from './apply.ts';
import { planRelease, uplinkOf } from './plan.ts';
import { readUplinkState } from './read.ts';
import type { UplinkLink, UplinkState } from './state.ts';

/** The ports of a bridge that bridgeway did not make: not its uplink NIC, not a host veth of ours. */
export function foreignPorts(state: UplinkState, bridge: string): string[] {
  const bridgeLink = state.links.find((l) => l.name === bridge);
  const nic = bridgeLink ? uplinkOf(bridgeLink) : undefined;
  return state.links.filter((l) => l.master === bridge && l.name !== nic && !parseHostVethAlias(l.alias)).map((l) => l.name);
}

export function uplinkBridges(state: UplinkState): UplinkLink[] {
  return state.links.filter((l) => l.kind === 'bridge' && uplinkOf(l) !== undefined);
}

/**
 * Releases every uplink through the Kernel it is given (the agent's uninstall passes the iproute2
 * one: the agent may start processes, and runs on Node too); resolves with what it did, in words,
 * one line per bridge.
 */
export async function releaseUplinks(kernel: Kernel, log: Logger): Promise<string> {
  const state = await readUplinkState(kernel);
  const bridges = uplinkBridges(state);
  if (bridges.length === 0) return 'no bridge holds an uplink NIC of ours';
  const said: string[] = [];
  for (const bridge of bridges) {
    const nic = uplinkOf(bridge)!;
    const foreign = foreignPorts(state, bridge.name);
    await applyUplinkSteps(kernel, planRelease(state, bridge.name, { foreignPorts: foreign }), log);
    said.push(
      foreign.length
        ? `gave ${nic} back its addresses and routes from ${bridge.name}; left ${bridge.name} in place with the ports that are not ours (${foreign.join(', ')}), which reach each other but no longer the LAN: delete it with \`ip link del ${bridge.name}\` once they are gone`
        : `gave ${nic} back its addresses and routes and deleted ${bridge.name}`,
    );
  }
  return said.join('; ');
}
