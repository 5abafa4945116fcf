// The plugin's side of anti-spoofing on an Open vSwitch bridge: the port's guard flows
// (lib/openflow/port-guard.ts) over OpenFlow on the bridge's management socket.
//   ADD    after ovs-vswitchd applied the port (its ofport), before the pod's interface comes up:
//          the pipeline flows (a node whose agent has not run yet must still switch; an identical
//          OFPFC_ADD changes nothing), any guard left by an interrupted ADD of this attachment
//          deleted, the port's flows added, then a BARRIER: the pod never sends unguarded.
//   DEL    the attachment's flows, by cookie, after its port (a port is never left unguarded).
//   GC     lib/openflow/guard-sync.ts: every guard of a port that is gone, deleted.
//   CHECK  every flow of the port's guard there.
// The switch not answering, or refusing a flow, is code 11 naming the socket: the runtime's retry
// succeeds once ovs-vswitchd is back.
import fs from 'node:fs';
import { formatIp, type IpAddress } from '../../lib/cidr.ts';
import { errorMessage } from '../../lib/errors.ts';
import { podMac } from '../../lib/mac.ts';
import { OVS_IDS } from '../../lib/names.ts';
import { connectOpenFlow, mgmtSocket, OpenFlowUnavailableError, withOpenFlow, type OpenFlowClient } from '../../lib/openflow/client.ts';
import { parseGuardIps } from '../../lib/openflow/guard-sync.ts';
import {
  ATTACHMENT_COOKIE_MASK, COOKIE_PREFIX_MASK, deleteGuard, guardCookie, missingGuardFlows, PIPELINE_COOKIE_PREFIX, pipelineFlows, planPortGuard, type GuardedPort,
} from '../../lib/openflow/port-guard.ts';
import { mapEntries, optionalInteger, type Row } from '../../lib/ovsdb/protocol.ts';
import { CniError, ErrorCode } from '../errors.ts';
import type { Db } from './db.ts';
import { selectInterface } from './ops.ts';

export type OpenFlowConnect = (socket: string) => Promise<OpenFlowClient>;

export interface GuardTarget {
  /** The database's socket: the management socket is beside it. */
  ovsdbSocket: string;
  bridge: string;
  network: string;
  containerId: string;
  ifname: string;
}

/** What the guard allows: the pod's MAC (from its addresses, as planAdd gives it) and addresses. */
export function guardIdentity(addresses: readonly IpAddress[]): { mac: string; addresses: string[] } {
  return { mac: podMac(addresses), addresses: addresses.map(formatIp) };
}

function guardError(socket: string, what: string, error: unknown): CniError {
  // The client's own errors name the socket already.
  if (error instanceof OpenFlowUnavailableError) return new CniError(ErrorCode.TryAgainLater, `${what}: ${error.message}`);
  return new CniError(ErrorCode.TryAgainLater, `${what} on the Open vSwitch bridge's OpenFlow socket ${socket}: ${errorMessage(error)}`);
}

async function withSwitch<T>(socket: string, what: string, connect: OpenFlowConnect, fn: (client: OpenFlowClient) => Promise<T>): Promise<T> {
  try {
    return await withOpenFlow(socket, fn, connect);
  } catch (error) {
    throw guardError(socket, what, error);
  }
}

/** The port's ofport once ovs-vswitchd applied it (attach() waited for that). */
export async function interfaceOfport(db: Db, name: string): Promise<number> {
  const [found] = await db.transact([selectInterface(name)]);
  return ofportOf(found!.rows![0], name);
}

function ofportOf(row: Row | undefined, name: string): number {
  const ofport = optionalInteger(row?.ofport);
  if (ofport === undefined || ofport <= 0) throw new CniError(ErrorCode.IoFailure, `ovs-vswitchd gave port ${name} no OpenFlow port number (ofport ${ofport ?? 'unset'}): its anti-spoofing flows cannot name it`);
  return ofport;
}

export function attachmentCookie(target: GuardTarget): bigint {
  return guardCookie(target.network, target.containerId, target.ifname);
}

/** ADD: pipeline, the attachment's old guard gone, the port's guard, BARRIER (flowMods waits for it). */
export async function installGuard(target: GuardTarget, port: Omit<GuardedPort, 'cookie'>, connect: OpenFlowConnect = connectOpenFlow): Promise<number> {
  const socket = mgmtSocket(target.ovsdbSocket, target.bridge);
  const cookie = attachmentCookie(target);
  const flows = planPortGuard({ ...port, cookie });
  await withSwitch(socket, `installing the anti-spoofing flows of ofport ${port.ofport}`, connect,
    (client) => client.flowMods([...pipelineFlows().map((f) => f.add), deleteGuard(cookie), ...flows.map((f) => f.add)]));
  return flows.length;
}

/** DEL and rollback: the attachment's guard, by cookie (either generation). No management socket: no ovs-vswitchd, no flows. */
export async function removeGuard(target: GuardTarget, connect: OpenFlowConnect = connectOpenFlow): Promise<'removed' | 'no switch'> {
  const socket = mgmtSocket(target.ovsdbSocket, target.bridge);
  if (!fs.existsSync(socket)) return 'no switch';
  await withSwitch(socket, 'removing the anti-spoofing flows', connect, (client) => client.flowMods([deleteGuard(attachmentCookie(target))]));
  return 'removed';
}

/**
 * CHECK: the port's guard as ADD made it, from the Interface's ofport and the MAC and addresses
 * ADD kept in its ids (which must be the result's); every flow of it and the pipeline there.
 * Returns what is wrong, in words (empty: nothing).
 */
export async function checkGuard(db: Db, target: GuardTarget, port: string, expected: readonly IpAddress[], connect: OpenFlowConnect = connectOpenFlow): Promise<string[]> {
  const [found] = await db.transact([selectInterface(port)]);
  const row = found!.rows![0];
  const ids = mapEntries(row?.external_ids);
  const identity = guardIdentity(expected);
  const kept = parseGuardIps(ids[OVS_IDS.antispoofIps] ?? '') ?? [];
  const same = kept.length === expected.length && expected.every((e) => kept.some((k) => k.family === e.family && k.value === e.value));
  if (ids[OVS_IDS.attachedMac] !== identity.mac || !same) {
    return [`the Interface ${port} does not hold the pod's MAC and addresses for its anti-spoofing flows (external_ids ${OVS_IDS.attachedMac}=${ids[OVS_IDS.attachedMac] ?? 'unset'}, ${OVS_IDS.antispoofIps}=${ids[OVS_IDS.antispoofIps] ?? 'unset'}; the pod has ${identity.mac} and ${identity.addresses.join(',')})`];
  }
  const ofport = ofportOf(row, port);
  const cookie = attachmentCookie(target);
  const socket = mgmtSocket(target.ovsdbSocket, target.bridge);
  return withSwitch(socket, 'reading the anti-spoofing flows', connect, async (client) => {
    const mine = await client.flowCookies(cookie, ATTACHMENT_COOKIE_MASK);
    const pipeline = await client.flowCookies(PIPELINE_COOKIE_PREFIX, COOKIE_PREFIX_MASK);
    const missing = [
      ...missingGuardFlows(planPortGuard({ cookie, ofport, mac: identity.mac, addresses: expected }), mine),
      ...pipelineFlows().filter((f) => !pipeline.some((p) => p.cookie === f.add.cookie)).map((f) => f.text),
    ];
    return missing.length ? [`port ${port} (ofport ${ofport}) lacks ${missing.length} anti-spoofing flow(s): ${missing.join('; ')}`] : [];
  });
}
