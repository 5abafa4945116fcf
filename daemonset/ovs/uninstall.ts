// `uninstall` on an Open vSwitch bridge: the plan of uninstall-plan.ts read and sent over the
// in-process OVSDB client (the agent's image has no ovs-vsctl). Returns what it did in words.
import type { OvsdbClient } from '../../lib/ovsdb/client.ts';
import { OvsdbTransactionError } from '../../lib/ovsdb/protocol.ts';
import { bridgeState, describePort, planOvsUninstall, readOperations } from './uninstall-plan.ts';

export type OpenOvsdb = (socket: string) => Promise<OvsdbClient>;

/** A port added between the read and the change makes the server refuse it: read again, this often. */
const ATTEMPTS = 3;

export async function uninstallOvsBridge(open: OpenOvsdb, options: { socket: string; bridge: string; network: string }): Promise<string> {
  const { socket, bridge, network } = options;
  const db = await open(socket);
  try {
    for (let attempt = 1; ; attempt++) {
      const state = bridgeState(await db.transact(readOperations(bridge)));
      if (!state) return `no Open vSwitch bridge ${bridge} in the database at ${socket} (no pod started, or already removed)`;
      const plan = planOvsUninstall(state, bridge, network);
      try {
        if (plan.operations.length) await db.transact(plan.operations);
      } catch (error) {
        if (error instanceof OvsdbTransactionError && error.operation?.op === 'wait' && attempt < ATTEMPTS) continue;
        throw error;
      }
      const removed = plan.remove.length ? `removed ${plan.remove.length} port(s) of network ${network} (${plan.remove.map((p) => p.name).join(', ')})` : `no port of network ${network}`;
      if (plan.deleteBridge) return `${removed}; removed the Open vSwitch bridge ${bridge}`;
      return `${removed}; left the Open vSwitch bridge ${bridge} in place for the ports that are not ours (${plan.foreign.map(describePort).join(', ')}): `
        + `delete it with \`ovs-vsctl del-br ${bridge}\` once they are gone`;
    }
  } finally {
    db.close();
  }
}
