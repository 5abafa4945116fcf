// The plugin's side of the database: the transactions of ops.ts sent over lib/ovsdb/client.ts,
// and what their answers mean for a CNI command. A database that is absent or silent is code 11
// ("try again later") naming the socket: nothing is wrong with the pod or its config, and the
// runtime's retry succeeds once ovsdb-server answers.
import { connectOvsdb, OvsdbUnavailableError, type OvsdbClient } from '../../lib/ovsdb/client.ts';
import { mapEntries, optionalInteger, OvsdbTransactionError, setAtoms, uuidOf, type Row } from '../../lib/ovsdb/protocol.ts';
import { CniError, ErrorCode } from '../errors.ts';
import { attachPort, createBridge, selectBridge, selectCurCfg, selectInterface, selectPort, type AttachSpec, type BridgeSpec } from './ops.ts';

export type Db = OvsdbClient;

/** What ovs-vswitchd gets to make a new port before ADD gives up (and undoes it). */
export const VSWITCHD_WAIT_MS = 5000;

export async function openDb(socket: string): Promise<Db> {
  try {
    return await connectOvsdb(socket);
  } catch (error) {
    throw asCniError(error);
  }
}

/** An OVSDB failure as the CNI error the runtime gets. */
export function asCniError(error: unknown): unknown {
  if (error instanceof OvsdbUnavailableError) {
    return new CniError(ErrorCode.TryAgainLater, `${error.message}: bridgeway's "bridgeType": "ovs" needs ovsdb-server answering there ("ovsdbSocket" names another socket)`);
  }
  if (error instanceof OvsdbTransactionError) return new CniError(ErrorCode.IoFailure, error.message);
  return error;
}

export interface PortRow {
  uuid: string;
  name: string;
  ids: Record<string, string>;
  tag?: number;
  trunks: number[];
  /** The UUID of the Port's QoS row, if it has one (cni/ovs/qos.ts). */
  qos?: string;
}

export function portRow(row: Row): PortRow {
  const tag = optionalInteger(row.tag);
  const qos = uuidOf(setAtoms(row.qos)[0] as never);
  return {
    ...(qos ? { qos } : {}),
    uuid: uuidOf(row._uuid)!,
    name: String(row.name),
    ids: mapEntries(row.external_ids),
    ...(tag !== undefined ? { tag } : {}),
    trunks: setAtoms(row.trunks).map(Number).sort((a, b) => a - b),
  };
}

/** The bridge's datapath type, or undefined when there is no such bridge. */
async function bridgeDatapath(db: Db, name: string): Promise<string | undefined> {
  const [found] = await db.transact([selectBridge(name)]);
  const row = found!.rows![0];
  return row ? String(setAtoms(row.datapath_type)[0] ?? '') || 'system' : undefined;
}

/**
 * The bridge, made if missing; its datapath type. Race-safe: the creating transaction waits for
 * the name to be free, so of two ADDs on a new bridge one makes it and the other, refused, finds it.
 */
export async function ensureBridge(db: Db, spec: BridgeSpec): Promise<{ datapath: string; created: boolean; raced?: boolean }> {
  const existing = await bridgeDatapath(db, spec.name);
  if (existing !== undefined) return { datapath: existing, created: false };
  try {
    await db.transact(createBridge(spec));
    return { datapath: spec.datapath, created: true };
  } catch (error) {
    if (!(error instanceof OvsdbTransactionError)) throw error;
    const raced = await bridgeDatapath(db, spec.name);
    if (raced === undefined) throw error; // refused for another reason
    return { datapath: raced, created: false, raced: true };
  }
}

export async function findPort(db: Db, name: string): Promise<PortRow | undefined> {
  const [found] = await db.transact([selectPort(name)]);
  const row = found!.rows![0];
  return row ? portRow(row) : undefined;
}

/**
 * One transaction makes the port; then ovs-vswitchd must make it real (open the veth): its
 * cur_cfg reaching our next_cfg says it has read the change, and the Interface's `error` whether
 * it could. Returns the Port's UUID. A vswitchd that does not catch up in time is code 11 (the
 * caller undoes the port).
 */
export async function attach(db: Db, spec: AttachSpec, options: { waitMs?: number; sleep?: (ms: number) => Promise<void> } = {}): Promise<string> {
  const { operations, bridgeMutation, nextCfg } = attachPort(spec);
  const results = await db.transact(operations);
  const portUuid = uuidOf(results[bridgeMutation - 1]!.uuid)!;
  if (results[bridgeMutation]!.count !== 1) {
    throw new CniError(ErrorCode.TryAgainLater, `Open vSwitch bridge ${spec.bridge} vanished while its port ${spec.port} was being added`);
  }
  const target = Number(results[nextCfg]!.rows![0]!.next_cfg);
  const sleep = options.sleep ?? ((ms: number) => new Promise((resolve) => setTimeout(resolve, ms)));
  const waitMs = options.waitMs ?? VSWITCHD_WAIT_MS;
  const started = Date.now();
  for (;;) {
    const [cfg, iface] = await db.transact([selectCurCfg(), selectInterface(spec.port)]);
    const error = setAtoms(iface!.rows![0]?.error)[0];
    if (error) throw new AttachError(portUuid, new CniError(ErrorCode.IoFailure, `ovs-vswitchd could not add ${spec.port} to ${spec.bridge}: ${error}`));
    if (Number(cfg!.rows![0]!.cur_cfg) >= target) return portUuid;
    if (Date.now() - started > waitMs) {
      throw new AttachError(portUuid, new CniError(ErrorCode.TryAgainLater, `ovs-vswitchd did not apply port ${spec.port} of ${spec.bridge} within ${waitMs} ms (is ovs-vswitchd running?)`));
    }
    await sleep(20);
  }
}

/** A failure after the port was committed: the caller must detach `portUuid`. */
export class AttachError extends Error {
  readonly portUuid: string;
  override readonly cause: CniError;
  constructor(portUuid: string, cause: CniError) {
    super(cause.message);
    this.name = 'AttachError';
    this.portUuid = portUuid;
    this.cause = cause;
  }
}
