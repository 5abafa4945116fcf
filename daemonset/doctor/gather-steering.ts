// The doctor's read of the same-node steering flows on an Open vSwitch bridge (--bridge-type ovs):
// over OpenFlow on the bridge's management socket, the LOCAL port's MAC and the cookies of the
// flows carrying our cookie prefix (ovs/steering.ts). Whether they are the ones the agent would
// install for this node's podCIDRs is checks/policy.ts's. With them, the pods' anti-spoofing flows
// and the guarded ports of the database (lib/openflow/guard-sync.ts's reads), judged by
// checks/antispoof.ts. Reads only.
import { errorMessage } from '../../lib/errors.ts';
import { connectOpenFlow } from '../../lib/openflow/client.ts';
import { OFPP } from '../../lib/openflow/protocol.ts';
import { guardedInterfaces, guardedPortsRead, presentGuardFlows } from '../../lib/openflow/guard-sync.ts';
import type { PresentFlow } from '../../lib/openflow/port-guard.ts';
import { connectOvsdb } from '../../lib/ovsdb/client.ts';
import { mgmtSocket } from '../ovs/steering-step.ts';
import { STEERING_COOKIE_MASK, STEERING_COOKIE_PREFIX } from '../ovs/steering.ts';
import type { GuardFacts, SteeringFacts } from './facts.ts';

const TIMEOUT_MS = 3000;

export async function gatherSteering(ovsdbSocket: string, bridge: string): Promise<SteeringFacts> {
  const socket = mgmtSocket(ovsdbSocket, bridge);
  let client;
  try {
    client = await connectOpenFlow(socket, { timeoutMs: TIMEOUT_MS });
  } catch (error) {
    return { socket, error: errorMessage(error) };
  }
  try {
    const local = (await client.portDescs()).find((p) => p.portNo === OFPP.LOCAL);
    const cookies = (await client.flowCookies(STEERING_COOKIE_PREFIX, STEERING_COOKIE_MASK)).map((f) => f.cookie);
    const present = await presentGuardFlows(client);
    return { socket, ...(local && { localMac: local.mac }), cookies, guards: await readGuards(ovsdbSocket, bridge, present) };
  } catch (error) {
    return { socket, error: errorMessage(error) };
  } finally {
    client.close();
  }
}

/** The guarded ports of the bridge from the database, beside the guard flows already read. */
async function readGuards(ovsdbSocket: string, bridge: string, present: PresentFlow[]): Promise<GuardFacts> {
  try {
    const db = await connectOvsdb(ovsdbSocket, { timeoutMs: TIMEOUT_MS });
    try {
      return { ports: guardedInterfaces(await db.transact(guardedPortsRead(bridge))), present };
    } finally {
      db.close();
    }
  } catch (error) {
    return { error: errorMessage(error) };
  }
}
