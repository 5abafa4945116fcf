// Puts a bridge's anti-spoofing flows (port-guard.ts) in line with its guarded ports: the pipeline
// flows there, each guarded port's guard there, and no guard of a port that is gone. Run by the
// agent at each sync (flows do not outlive ovs-vswitchd: a restart loses them, and until this runs
// again the bridge switches every port unjudged with OVS's own NORMAL flow) and by the plugin's GC.
//
// A guarded port is an Interface of the bridge whose external_ids name its attachment and carry
// the addresses (lib/names.ts OVS_IDS.antispoofIps, written by ADD with attached-mac), with an
// ofport: everything the guard needs, read from OVSDB alone.
//
// The flows are read BEFORE the database: ADD commits its port before it installs its guard, and
// DEL removes its port before its guard, so a guard read here whose port the later read does not
// show is a leftover, never the guard of an ADD in flight. (The other way round, a DEL between the
// two reads leaves a guard this run re-adds; the next run deletes it.)
import { parseIp, type IpAddress } from '../cidr.ts';
import { OVS_IDS } from '../names.ts';
import type { OvsdbClient } from '../ovsdb/client.ts';
import { mapEntries, optionalInteger, setAtoms, uuidOf, type Operation, type OperationResult } from '../ovsdb/protocol.ts';
import type { OpenFlowClient } from './client.ts';
import { COOKIE_PREFIX_MASK, diffGuards, GUARD_COOKIE_PREFIX, guardCookie, PIPELINE_COOKIE_PREFIX, pipelineFlows, type GuardedPort, type PresentFlow } from './port-guard.ts';

/** The bridge's ports, their interfaces, and every Interface's name, ofport and ids: one transaction. */
export function guardedPortsRead(bridge: string): Operation[] {
  return [
    { op: 'select', table: 'Bridge', where: [['name', '==', bridge]], columns: ['ports'] },
    { op: 'select', table: 'Port', where: [], columns: ['_uuid', 'interfaces'] },
    { op: 'select', table: 'Interface', where: [], columns: ['_uuid', 'name', 'ofport', 'external_ids'] },
  ];
}

/** A guarded Interface of the bridge, by name, with its guard's inputs. */
export interface GuardedInterface extends GuardedPort {
  name: string;
}

/** The addresses of OVS_IDS.antispoofIps ("10.0.0.2,fd00::2"); undefined if one does not parse. */
export function parseGuardIps(text: string): IpAddress[] | undefined {
  const parts = text.split(',').filter(Boolean);
  const ips = parts.map((p) => parseIp(p));
  return ips.every((ip): ip is IpAddress => ip !== undefined) && ips.length > 0 ? ips : undefined;
}

/**
 * Pure: the bridge's guarded interfaces from guardedPortsRead's answer. An Interface without an
 * ofport yet (ovs-vswitchd has not made it) or with -1 (it could not) is skipped: its ADD waits
 * for it, and fails without one.
 */
export function guardedInterfaces(results: readonly OperationResult[]): GuardedInterface[] {
  const bridge = results[0]?.rows?.[0];
  if (!bridge) return [];
  const portUuids = new Set(setAtoms(bridge.ports).map((a) => uuidOf(a as never)));
  const ifaceUuids = new Set((results[1]?.rows ?? []).filter((p) => portUuids.has(uuidOf(p._uuid))).flatMap((p) => setAtoms(p.interfaces).map((a) => uuidOf(a as never))));
  const out: GuardedInterface[] = [];
  for (const row of results[2]?.rows ?? []) {
    if (!ifaceUuids.has(uuidOf(row._uuid))) continue;
    const ids = mapEntries(row.external_ids);
    const network = ids[OVS_IDS.network];
    const containerId = ids[OVS_IDS.containerId];
    const ifname = ids[OVS_IDS.ifname];
    const mac = ids[OVS_IDS.attachedMac];
    const ipsText = ids[OVS_IDS.antispoofIps];
    const ofport = optionalInteger(row.ofport);
    if (!network || !containerId || !ifname || !mac || !ipsText || ofport === undefined || ofport <= 0) continue;
    const addresses = parseGuardIps(ipsText);
    if (!addresses || !/^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/i.test(mac)) continue;
    out.push({ name: String(row.name), cookie: guardCookie(network, containerId, ifname), ofport, mac, addresses });
  }
  return out.sort((a, b) => a.name.localeCompare(b.name));
}

/** bridgeway's guard and pipeline flows on the bridge (two FLOW stats requests, one per prefix). */
export async function presentGuardFlows(client: OpenFlowClient): Promise<PresentFlow[]> {
  return [...await client.flowCookies(GUARD_COOKIE_PREFIX, COOKIE_PREFIX_MASK), ...await client.flowCookies(PIPELINE_COOKIE_PREFIX, COOKIE_PREFIX_MASK)];
}

/** The pipeline flows added where missing (the agent's steering lives in table 1, reached through them). */
export async function ensurePipeline(client: OpenFlowClient): Promise<string[]> {
  const have = new Set((await client.flowCookies(PIPELINE_COOKIE_PREFIX, COOKIE_PREFIX_MASK)).map((f) => f.cookie));
  const missing = pipelineFlows().filter((f) => !have.has(f.add.cookie));
  if (missing.length) await client.flowMods(missing.map((f) => f.add));
  return missing.map((f) => f.text);
}

export interface GuardSyncOutcome {
  /** The guarded ports found. */
  ports: string[];
  /** Ports whose guard was (re)installed, and leftover guards deleted (their cookies in hex). */
  installed: string[];
  removed: string[];
  pipelineAdded: string[];
}

/** Reads, plans (port-guard.ts diffGuards) and applies once; a sync with nothing to change writes nothing. */
export async function syncPortGuards(client: OpenFlowClient, ovsdb: OvsdbClient, bridge: string): Promise<GuardSyncOutcome> {
  const present = await presentGuardFlows(client);
  const ports = guardedInterfaces(await ovsdb.transact(guardedPortsRead(bridge)));
  const change = diffGuards(ports, present);
  if (change.mods.length) await client.flowMods(change.mods);
  const byCookie = new Map(ports.map((p) => [p.cookie, p.name]));
  return {
    ports: ports.map((p) => p.name),
    installed: change.installed.map((c) => byCookie.get(c) ?? `0x${c.toString(16)}`),
    removed: change.removed.map((c) => `0x${c.toString(16)}`),
    pipelineAdded: change.pipelineAdded,
  };
}
