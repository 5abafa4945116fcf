// `bridgeway-agent mirror <namespace>/<pod> [--to <port>] [--to-vlan <tag>] [--stop]` (issue 21):
// an OVS Mirror of the pod's port to a port made for it (printed, for `tcpdump -i`), an existing
// port, or a VLAN (RSPAN), kept until Ctrl-C or SIGTERM, which remove it; `--stop` removes one
// left behind (its process killed). The pod's port is found by the external_ids the plugin gives
// it (k8s-pod-namespace, k8s-pod-name). Over the in-process OVSDB client, nothing spawned but
// `ip link set up` for the new port (ovs-vswitchd makes it down).
import { parseArgs } from 'node:util';
import { connectOvsdb, type OvsdbClient } from '../../lib/ovsdb/client.ts';
import { uuidOf } from '../../lib/ovsdb/protocol.ts';
import type { Kernel } from '../../lib/kernel/kernel.ts';
import { errorMessage } from '../../lib/errors.ts';
import { createMirror, mirrorPortName, removeMirrors, selectBridgeOf, selectMirrorPorts, selectMirrors, selectPodPorts, selectPortByName, type MirrorOutput } from './mirror-ops.ts';

export const DEFAULT_OVSDB_SOCKET = '/run/openvswitch/db.sock';
const APPLY_WAIT_MS = 5000;

export interface MirrorArgs {
  namespace: string;
  pod: string;
  to?: string;
  toVlan?: number;
  stop: boolean;
  socket: string;
}

export class MirrorError extends Error {
  override name = 'MirrorError';
}

export const MIRROR_USAGE = 'usage: bridgeway-agent mirror <namespace>/<pod> [--to <port> | --to-vlan <tag>] [--stop] [--ovsdb-socket <path>]';

export function parseMirrorArgs(argv: string[], env: Record<string, string | undefined>): MirrorArgs {
  let parsed;
  try {
    parsed = parseArgs({ args: argv, allowPositionals: true, options: { to: { type: 'string' }, 'to-vlan': { type: 'string' }, stop: { type: 'boolean' }, 'ovsdb-socket': { type: 'string' } } });
  } catch (error) {
    throw new MirrorError(`${(error as Error).message}\n${MIRROR_USAGE}`);
  }
  const [target, ...extra] = parsed.positionals;
  const match = target ? /^([a-z0-9]([-a-z0-9]*[a-z0-9])?)\/([^/\s]+)$/.exec(target) : null;
  if (!match || extra.length > 0) throw new MirrorError(`name one pod as <namespace>/<pod>, got ${JSON.stringify(parsed.positionals.join(' '))}\n${MIRROR_USAGE}`);
  const vlanText = parsed.values['to-vlan'];
  const toVlan = vlanText === undefined ? undefined : Number(vlanText);
  if (toVlan !== undefined && (!Number.isInteger(toVlan) || toVlan < 1 || toVlan > 4095)) throw new MirrorError(`--to-vlan must be a VLAN ID from 1 to 4095, got ${JSON.stringify(vlanText)}`);
  if (toVlan !== undefined && parsed.values.to !== undefined) throw new MirrorError('--to and --to-vlan exclude each other: a mirror has one output');
  const socket = parsed.values['ovsdb-socket'] ?? (env.BRIDGEWAY_OVSDB_SOCKET || DEFAULT_OVSDB_SOCKET);
  return {
    namespace: match[1]!,
    pod: match[3]!,
    ...(parsed.values.to !== undefined ? { to: parsed.values.to } : {}),
    ...(toVlan !== undefined ? { toVlan } : {}),
    stop: parsed.values.stop ?? false,
    socket,
  };
}

export interface MirrorIo {
  out(line: string): void;
  /** The node's links: rtnetlink on Bun (the agent's image has no `ip`), iproute2 on the Node build. */
  kernel: Kernel;
  /** Resolves on the first SIGINT or SIGTERM. */
  interrupted(): Promise<string>;
}

/** Makes the mirror; returns its key, the Mirror's UUID and the port made for it (if any). */
export async function startMirror(db: OvsdbClient, args: MirrorArgs): Promise<{ key: string; bridge: string; outputName?: string }> {
  const key = `${args.namespace}/${args.pod}`;
  const [found] = await db.transact([selectPodPorts(args.namespace, args.pod)]);
  const podPorts = (found!.rows ?? []).map((r) => uuidOf(r._uuid)!);
  if (podPorts.length === 0) throw new MirrorError(`no Open vSwitch port of pod ${key} (a port made by bridgeway with "bridgeType": "ovs" carries external_ids k8s-pod-namespace and k8s-pod-name)`);
  const [bridges] = await db.transact([selectBridgeOf(podPorts[0]!)]);
  const bridge = bridges!.rows![0];
  if (!bridge) throw new MirrorError(`pod ${key}'s port is on no bridge`);
  const [existing] = await db.transact([selectMirrors(key)]);
  if ((existing!.rows ?? []).length > 0) throw new MirrorError(`pod ${key} is mirrored already (stop that one first: bridgeway-agent mirror ${key} --stop)`);
  let output: MirrorOutput;
  if (args.toVlan !== undefined) {
    output = { kind: 'vlan', vlan: args.toVlan };
  } else if (args.to !== undefined) {
    const [port] = await db.transact([selectPortByName(args.to)]);
    const row = port!.rows![0];
    if (!row) throw new MirrorError(`no Open vSwitch port ${JSON.stringify(args.to)} for --to`);
    const portUuid = uuidOf(row._uuid)!;
    const [sameBridge] = await db.transact([selectBridgeOf(portUuid)]);
    if (uuidOf(sameBridge!.rows![0]?._uuid) !== uuidOf(bridge._uuid)) throw new MirrorError(`port ${args.to} is not on ${String(bridge.name)}, the bridge of pod ${key}'s port`);
    output = { kind: 'port', uuid: portUuid };
  } else {
    output = { kind: 'new-port', name: mirrorPortName(key) };
  }
  const created = await db.transact(createMirror({ bridgeUuid: uuidOf(bridge._uuid)!, key, podPorts, output, pid: process.pid }));
  try {
    await appliedBy(db, Number(created.at(-1)!.rows![0]!.next_cfg));
  } catch (error) {
    await stopMirror(db, key);
    throw error;
  }
  return { key, bridge: String(bridge.name), ...(output.kind === 'new-port' ? { outputName: output.name } : {}) };
}

/**
 * Waits for ovs-vswitchd to have applied the mirror (its cur_cfg reaching our next_cfg, as
 * `ovs-vsctl` waits): until then a packet may still be switched by the configuration without it,
 * and whoever starts tcpdump on the printed port would miss the first ones.
 */
async function appliedBy(db: OvsdbClient, target: number): Promise<void> {
  for (let waited = 0; ; waited += 20) {
    const [cfg] = await db.transact([{ op: 'select', table: 'Open_vSwitch', where: [], columns: ['cur_cfg'] }]);
    if (Number(cfg!.rows![0]!.cur_cfg) >= target) return;
    if (waited >= APPLY_WAIT_MS) throw new MirrorError(`ovs-vswitchd did not apply the mirror within ${APPLY_WAIT_MS / 1000} s (is it running?); removed it`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** Removes the pod's mirror (all pods' when `key` is undefined) and the ports made for it; how many mirrors went. */
export async function stopMirror(db: OvsdbClient, key: string | undefined): Promise<number> {
  const [mirrors, ports] = await db.transact([selectMirrors(key), selectMirrorPorts(key)]);
  const m = (mirrors!.rows ?? []).map((r) => uuidOf(r._uuid)!);
  const p = (ports!.rows ?? []).map((r) => uuidOf(r._uuid)!);
  if (m.length + p.length > 0) await db.transact(removeMirrors(m, p));
  return m.length;
}

/** Waits for ovs-vswitchd to make the new internal port, then brings it up (tcpdump sees nothing on a down link). */
async function upWhenMade(kernel: Kernel, name: string): Promise<void> {
  for (let waited = 0; ; waited += 50) {
    try {
      await kernel.apply([{ op: 'set-up', link: name }]);
      return;
    } catch (error) {
      if (waited >= 5000) throw new MirrorError(`ovs-vswitchd made no interface ${name} within 5 s (is it running?): ${errorMessage(error)}`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
}

export async function mirrorCommand(args: MirrorArgs, io: MirrorIo): Promise<number> {
  const db = await connectOvsdb(args.socket);
  try {
    const key = `${args.namespace}/${args.pod}`;
    if (args.stop) {
      const removed = await stopMirror(db, key);
      io.out(removed > 0 ? `removed the mirror of ${key}` : `no mirror of ${key}`);
      return 0;
    }
    const mirror = await startMirror(db, args);
    try {
      if (mirror.outputName) {
        await upWhenMade(io.kernel, mirror.outputName);
        io.out(mirror.outputName);
        io.out(`# mirroring ${key} on ${mirror.bridge}: tcpdump -i ${mirror.outputName}; Ctrl-C removes it`);
      } else {
        io.out(`# mirroring ${key} on ${mirror.bridge} to ${args.to !== undefined ? `port ${args.to}` : `VLAN ${args.toVlan}`}; Ctrl-C removes it`);
      }
      await io.interrupted();
    } finally {
      await stopMirror(db, key);
    }
    return 0;
  } finally {
    db.close();
  }
}
