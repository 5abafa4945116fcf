// The doctor's read of the node's Open vSwitch networks (issue 21): every network config in the
// CNI config directory with a bridgeway plugin of "bridgeType": "ovs", its keys as written (the
// agent never imports the plugin, so they are read loosely here), and per network what its
// database holds (over lib/ovsdb/: the bridge, this network's ports, bridgeway's mirrors), whether
// an ovs-vswitchd serves that database (/proc, or its control socket beside the database's), and the node's host veths that are ports of no
// Linux bridge (`ip -j link show`). What it all means is checks/ovs.ts's.
import fs from 'node:fs';
import path from 'node:path';
import { errorMessage } from '../../lib/errors.ts';
import type { Runner } from '../../lib/exec.ts';
import { isHostVethName, OVS_IDS } from '../../lib/names.ts';
import { bridgewayPluginConfigs } from './cni-configs.ts';
import { connectOvsdb } from '../../lib/ovsdb/client.ts';
import { connectUnixSocket } from '../../lib/unix-socket.ts';
import { map, mapEntries, optionalInteger, setAtoms, uuidOf, type Row } from '../../lib/ovsdb/protocol.ts';
import { MIRROR_ID, MIRROR_PID_ID } from '../ovs/mirror-ops.ts';
import type { OvsDbFacts, OvsFacts, OvsNetworkFacts } from './facts.ts';

const DB_TIMEOUT_MS = 3000;

export async function gatherOvs(cniConfDir: string, defaultSocket: string, run: Runner): Promise<OvsFacts | undefined> {
  const networks = readNetworks(cniConfDir, defaultSocket);
  if (networks.length === 0) return undefined;
  const sockets = [...new Set(networks.map((n) => n.socket))];
  const dbs: OvsFacts['dbs'] = {};
  for (const socket of sockets) dbs[socket] = await readDb(socket, networks.filter((n) => n.socket === socket));
  return { networks, dbs, unattachedVeths: await unattachedVeths(run) };
}

function readNetworks(cniConfDir: string, defaultSocket: string): OvsNetworkFacts[] {
  return bridgewayPluginConfigs(cniConfDir).flatMap(({ path, network, plugin }) => {
    if (plugin.bridgeType !== 'ovs') return [];
    const byNs = plugin.vlanByNamespace && typeof plugin.vlanByNamespace === 'object' ? (plugin.vlanByNamespace as Record<string, number>) : undefined;
    return [{
      path,
      network,
      bridge: typeof plugin.bridge === 'string' ? plugin.bridge : 'cbr0',
      socket: typeof plugin.ovsdbSocket === 'string' ? plugin.ovsdbSocket : defaultSocket,
      ...(typeof plugin.vlan === 'number' ? { vlan: plugin.vlan } : {}),
      ...(Array.isArray(plugin.trunk) ? { trunk: (plugin.trunk as number[]).slice().sort((a, b) => a - b) } : {}),
      ...(byNs ? { vlanByNamespace: byNs } : {}),
      ...(typeof plugin.defaultVlan === 'number' ? { defaultVlan: plugin.defaultVlan } : {}),
    }];
  });
}

async function readDb(socket: string, networks: OvsNetworkFacts[]): Promise<OvsDbFacts | { error: string }> {
  let db;
  try {
    db = await connectOvsdb(socket, { timeoutMs: DB_TIMEOUT_MS });
  } catch (error) {
    return { error: errorMessage(error) };
  }
  try {
    const [root, bridges, ports, mirrors] = await db.transact([
      { op: 'select', table: 'Open_vSwitch', where: [], columns: ['cur_cfg', 'next_cfg'] },
      { op: 'select', table: 'Bridge', where: [], columns: ['name', 'datapath_type', 'ports'] },
      { op: 'select', table: 'Port', where: [], columns: ['_uuid', 'name', 'external_ids', 'tag', 'trunks'] },
      { op: 'select', table: 'Mirror', where: [['external_ids', 'includes', map({})]], columns: ['name', 'external_ids', 'output_port', 'output_vlan'] },
    ]);
    const portName = new Map((ports!.rows ?? []).map((p) => [uuidOf(p._uuid)!, String(p.name)]));
    const row = root!.rows![0] ?? {};
    const wanted = new Set(networks.map((n) => n.network));
    return {
      curCfg: Number(row.cur_cfg ?? 0),
      nextCfg: Number(row.next_cfg ?? 0),
      vswitchd: findVswitchd(socket) ?? (await answeringControlSocket(socket)),
      bridges: (bridges!.rows ?? []).map((b: Row) => ({
        name: String(b.name),
        datapath: String(setAtoms(b.datapath_type)[0] ?? '') || 'system',
        ports: setAtoms(b.ports).map((p) => portName.get(uuidOf(p as never)!) ?? '?'),
      })),
      ports: (ports!.rows ?? []).flatMap((p) => {
        const ids = mapEntries(p.external_ids);
        if (!wanted.has(ids[OVS_IDS.network] ?? '')) return [];
        const tag = optionalInteger(p.tag);
        return [{ name: String(p.name), ids, ...(tag !== undefined ? { tag } : {}), trunks: setAtoms(p.trunks).map(Number).sort((a, b) => a - b) }];
      }),
      allPorts: [...portName.values()],
      mirrors: (mirrors!.rows ?? []).flatMap((m) => {
        const ids = mapEntries(m.external_ids);
        if (!ids[MIRROR_ID]) return [];
        const pid = Number(ids[MIRROR_PID_ID]);
        const output = portName.get(uuidOf(setAtoms(m.output_port)[0] as never) ?? '') ?? (optionalInteger(m.output_vlan) !== undefined ? `VLAN ${optionalInteger(m.output_vlan)}` : '?');
        return [{ name: String(m.name), pod: ids[MIRROR_ID]!, output, ...(Number.isInteger(pid) && pid > 0 ? { pid, alive: fs.existsSync(`/proc/${pid}`) } : {}) }];
      }),
    };
  } catch (error) {
    return { error: errorMessage(error) };
  } finally {
    db.close();
  }
}

/**
 * The pid of an ovs-vswitchd serving this database: started with `unix:<socket>`, or (the default
 * socket) with no database argument. Undefined when none is visible, which in a container without
 * the host's PID namespace says nothing.
 */
function findVswitchd(socket: string): string | undefined {
  let pids: string[];
  try {
    pids = fs.readdirSync('/proc').filter((p) => /^\d+$/.test(p));
  } catch {
    return undefined;
  }
  for (const pid of pids) {
    let argv: string[];
    try {
      argv = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean);
    } catch {
      continue;
    }
    const vswitchd = argv.findIndex((a) => path.basename(a) === 'ovs-vswitchd');
    if (vswitchd < 0) continue;
    const dbArg = argv.slice(vswitchd + 1).find((a) => /^(unix|tcp|ssl):/.test(a));
    if (dbArg === `unix:${socket}` || (dbArg === undefined && socket === '/run/openvswitch/db.sock') || (dbArg === undefined && socket === '/var/run/openvswitch/db.sock')) return `pid ${pid}`;
  }
  return undefined;
}

/**
 * Without the host's PID namespace (the agent's pod) no process is visible, but the run directory
 * is mounted: ovs-vswitchd's control socket (`ovs-vswitchd.<pid>.ctl`, or `ovs-vswitchd.ctl` when
 * started with that --unixctl) sits beside the database's. One that accepts a connection is a
 * live ovs-vswitchd; a crashed one leaves its file, which refuses.
 */
async function answeringControlSocket(socket: string): Promise<string | undefined> {
  const dir = path.dirname(socket);
  let names: string[];
  try {
    names = fs.readdirSync(dir).filter((name) => /^ovs-vswitchd(\.\d+)?\.ctl$/.test(name));
  } catch {
    return undefined;
  }
  for (const name of names) {
    const ctl = path.join(dir, name);
    try {
      (await connectUnixSocket(ctl, DB_TIMEOUT_MS, (why) => new Error(why), (code) => code ?? 'failed')).destroy();
      return `control socket ${ctl} answers`;
    } catch {
      // stale: try the next
    }
  }
  return undefined;
}

/** Host veths (bridgeway's names) that are no Linux bridge's port. */
async function unattachedVeths(run: Runner): Promise<string[]> {
  try {
    const links = JSON.parse((await run(['ip', '-j', 'link', 'show'])).stdout) as { ifname: string; master?: string }[];
    return links.filter((l) => isHostVethName(l.ifname) && !l.master).map((l) => l.ifname).sort();
  } catch {
    return [];
  }
}
