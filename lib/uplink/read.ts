// Reads what the uplink planner needs through a Kernel: every link of the node with its details
// and addresses, and both families' main table (Kernel.readNamespace). Over rtnetlink from the
// plugin's own process on Bun (four dumps, no process), with `ip -d -j` on Node and in the agent.
import type { Kernel } from '../kernel/kernel.ts';
import { uplinkStateOf, type UplinkState } from './state.ts';

/** The node's own namespace, by the path both backends take (rtnetlink opens it; iproute2 enters it). */
const NODE_NETNS = '/proc/self/ns/net';

export async function readUplinkState(kernel: Kernel): Promise<UplinkState> {
  return uplinkStateOf(await kernel.readNamespace(NODE_NETNS, { ipv6: true }));
}
