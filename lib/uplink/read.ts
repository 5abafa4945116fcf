// Reads what the uplink planner needs through a Kernel: every link of the node with its details
// and addresses, and both families' main table (Kernel.readNamespace). Over rtnetlink from the
// plugin's own process on Bun (four dumps, no process), with `ip -d -j` on Node and in the agent.
import type { Kernel } from '../kernel/kernel.ts';
import { uplinkStateOf, type UplinkState } from './state.ts';

export async function readUplinkState(kernel: Kernel): Promise<UplinkState> {
  // The node's namespace: the plugin's own socket (no setns), the agent's `ip` without nsenter.
  return uplinkStateOf(await kernel.readNamespace(undefined, { ipv6: true }));
}
