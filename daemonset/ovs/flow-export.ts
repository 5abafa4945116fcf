// Flow export on the Open vSwitch bridge (issue 21): --ovs-sflow and --ovs-netflow name a
// collector; the bridge's `sflow` and `netflow` columns then hold a row of ours (external_ids
// bridgeway-agent=flow-export) sending to it, and without the flag that row is removed. A row an
// admin made (without our id) is never changed or removed: with the flag set, that is an error
// the step reports. sFlow and NetFlow are not root tables: a row the bridge no longer references
// is deleted by the server, so replacing or clearing the column is the whole change.
// Pure planning here (planFlowExport); the step reads and applies over lib/ovsdb/.
import fs from 'node:fs';
import { connectOvsdb, type OvsdbClient } from '../../lib/ovsdb/client.ts';
import { map, mapEntries, set, setAtoms, uuid, uuidOf, type Operation, type Row } from '../../lib/ovsdb/protocol.ts';
import type { Logger } from '../../lib/log.ts';
import type { SyncStep } from '../loop/step.ts';

export const FLOW_EXPORT_ID = { key: 'bridgeway-agent', value: 'flow-export' } as const;
export type FlowKind = 'sflow' | 'netflow';
const TABLE: Record<FlowKind, string> = { sflow: 'sFlow', netflow: 'NetFlow' };

export interface FlowRow {
  uuid: string;
  targets: string[];
  ours: boolean;
}

export interface FlowState {
  bridgeUuid: string;
  sflow?: FlowRow;
  netflow?: FlowRow;
}

export interface FlowPlan {
  operations: Operation[];
  /** What changes, for the log: "sflow -> 192.0.2.1:6343", "netflow removed". */
  changes: string[];
  /** Rows of an admin's that a flag would replace: left alone, reported. */
  refused: string[];
}

/** Pure: the bridge's flow export as the flags want it, from what it holds. */
export function planFlowExport(state: FlowState, wanted: { sflow?: string; netflow?: string }): FlowPlan {
  const row: Row = {};
  const operations: Operation[] = [];
  const changes: string[] = [];
  const refused: string[] = [];
  for (const kind of ['sflow', 'netflow'] as const) {
    const current = state[kind];
    const target = wanted[kind];
    if (current && !current.ours) {
      if (target) refused.push(`the bridge has a ${TABLE[kind]} configuration bridgeway did not make (targets ${current.targets.join(', ')}): left alone, --ovs-${kind} not applied`);
      continue;
    }
    if (target) {
      if (current && current.targets.length === 1 && current.targets[0] === target) continue;
      const name = `new_${kind}`;
      operations.push({ op: 'insert', table: TABLE[kind], row: { targets: set([target]), external_ids: map({ [FLOW_EXPORT_ID.key]: FLOW_EXPORT_ID.value }) }, 'uuid-name': name });
      row[kind] = ['named-uuid', name];
      changes.push(`${kind} -> ${target}`);
    } else if (current) {
      row[kind] = set([]);
      changes.push(`${kind} removed`);
    }
  }
  if (Object.keys(row).length > 0) operations.push({ op: 'update', table: 'Bridge', where: [['_uuid', '==', uuid(state.bridgeUuid)]], row });
  return { operations, changes, refused };
}

export function selectBridgeFlows(bridge: string): Operation {
  return { op: 'select', table: 'Bridge', where: [['name', '==', bridge]], columns: ['_uuid', 'sflow', 'netflow'] };
}

/** The bridge's flow export as the database holds it; undefined when there is no such bridge. */
export async function readFlowExport(db: OvsdbClient, bridge: string): Promise<FlowState | undefined> {
  const [found] = await db.transact([selectBridgeFlows(bridge)]);
  const b = found!.rows![0];
  if (!b) return undefined;
  const state: FlowState = { bridgeUuid: uuidOf(b._uuid)! };
  for (const kind of ['sflow', 'netflow'] as const) {
    const ref = uuidOf(setAtoms(b[kind])[0] as never);
    if (!ref) continue;
    const [r] = await db.transact([{ op: 'select', table: TABLE[kind], where: [['_uuid', '==', uuid(ref)]], columns: ['targets', 'external_ids'] }]);
    const flow = r!.rows![0];
    if (!flow) continue;
    state[kind] = { uuid: ref, targets: setAtoms(flow.targets).map(String), ours: mapEntries(flow.external_ids)[FLOW_EXPORT_ID.key] === FLOW_EXPORT_ID.value };
  }
  return state;
}

export interface FlowExportDeps {
  log: Logger;
  socket: string;
  bridge: string;
  wanted: { sflow?: string; netflow?: string };
}

/**
 * The sync step. Without either flag and without a database (a Linux-bridge node) it does nothing;
 * with a flag, a database that does not answer or a bridge that is not in it fails the step.
 */
export class FlowExportSync implements SyncStep<unknown, 'ovs-flow-export'> {
  readonly name = 'ovs-flow-export';
  private readonly deps: FlowExportDeps;
  constructor(deps: FlowExportDeps) {
    this.deps = deps;
  }

  async run(): Promise<void> {
    const { log, socket, bridge, wanted } = this.deps;
    const asked = wanted.sflow !== undefined || wanted.netflow !== undefined;
    if (!asked && !fs.existsSync(socket)) return;
    let db: OvsdbClient;
    try {
      db = await connectOvsdb(socket);
    } catch (error) {
      if (!asked) return; // nothing of ours to remove can be seen; nothing asked for
      throw error;
    }
    try {
      const state = await readFlowExport(db, bridge);
      if (!state) {
        if (asked) throw new Error(`--ovs-sflow/--ovs-netflow: the Open vSwitch database at ${socket} has no bridge ${bridge}`);
        return;
      }
      const plan = planFlowExport(state, wanted);
      if (plan.operations.length > 0) {
        await db.transact(plan.operations);
        log.info({ bridge, changes: plan.changes }, 'Open vSwitch flow export updated');
      }
      if (plan.refused.length > 0) throw new Error(plan.refused.join('; '));
    } finally {
      db.close();
    }
  }
}
