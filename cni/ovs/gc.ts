// GC (spec 1.1) on an Open vSwitch bridge: this network's ports whose attachment the runtime no
// longer lists (cni.dev/valid-attachments) go, with their veths and addresses. A port is this
// network's only by its external_ids (bridgeway-network = the network's name, and the container
// and ifname it was made for); a port without them (a VM's, an admin's) is never judged, and a
// veth is deleted only under the name hostVethName() gives that attachment. Then the bridge's
// anti-spoofing flows (lib/openflow/guard-sync.ts): every guard whose port is gone (of any network:
// a guard names no network, only its port's attachment) deleted, a guarded port's missing flows put
// back. Keeps going past errors and reports them all.
import { errorMessage } from '../../lib/errors.ts';
import { attachmentKey, storedAttachments } from '../../ipam/index.ts';
import { OVS_IDS, hostVethName } from '../../lib/names.ts';
import { CniError, ErrorCode } from '../errors.ts';
import type { CommandContext } from '../skel.ts';
import { GcRun } from '../gc-run.ts';
import fs from 'node:fs';
import { mgmtSocket, withOpenFlow } from '../../lib/openflow/client.ts';
import { syncPortGuards } from '../../lib/openflow/guard-sync.ts';
import { asCniError, openDb, portRow, type PortRow } from './db.ts';
import { removePort, selectNetworkPorts } from './ops.ts';

/** Pure: the network's ports whose attachment is not valid any more. */
export function deadPorts(ports: readonly PortRow[], network: string, valid: readonly { containerId: string; ifname: string }[]): PortRow[] {
  const validKeys = new Set(valid.map(attachmentKey));
  return ports.filter((port) => {
    const containerId = port.ids[OVS_IDS.containerId];
    const ifname = port.ids[OVS_IDS.ifname];
    if (port.ids[OVS_IDS.network] !== network || !containerId || !ifname) return false;
    return !validKeys.has(attachmentKey({ containerId, ifname }));
  });
}

export async function ovsGc(ctx: CommandContext): Promise<void> {
  const { conf, kernel, log } = ctx;
  const valid = conf.validAttachments;
  if (!valid) throw new CniError(ErrorCode.InvalidNetworkConfig, 'GC needs cni.dev/valid-attachments in the config');
  const gc = new GcRun(ctx, (error) => errorMessage(asCniError(error)));
  const attempt = gc.attempt.bind(gc);

  const db = await attempt('connect to the Open vSwitch database', () => openDb(conf.ovs!.socket));
  const removed: string[] = [];
  const deadAttachments: { containerId: string; ifname: string }[] = [];
  // An attachment whose port or veth could not be removed keeps its address (as bridge mode's GC:
  // never free while a veth may still use it); without the list of ports, every one does.
  const keep = new Set<string>();
  let listed = false;
  let guards: Awaited<ReturnType<typeof syncPortGuards>> | undefined;
  if (db) {
    try {
      const [found] = (await attempt('list this network\'s ports', () => db.transact([selectNetworkPorts(conf.name)]))) ?? [];
      listed = found !== undefined;
      for (const port of deadPorts((found?.rows ?? []).map(portRow), conf.name, valid)) {
        const containerId = port.ids[OVS_IDS.containerId]!;
        const ifname = port.ids[OVS_IDS.ifname]!;
        deadAttachments.push({ containerId, ifname });
        const ok = await attempt(`remove port ${port.name}`, async () => {
          await db.transact(removePort(port.uuid, port.ids));
          return true;
        });
        if (ok) removed.push(port.name);
        // The veth under the name this attachment's ADD gives it, and no other.
        const veth = hostVethName(containerId, ifname);
        const vethGone = await attempt(`delete veth ${veth}`, async () => (await kernel.deleteLinkIfPresent(veth), true));
        if (!ok || !vethGone) keep.add(attachmentKey({ containerId, ifname }));
      }
      // No management socket: ovs-vswitchd is not running (or there is no bridge), and holds no flows.
      const socket = mgmtSocket(conf.ovs!.socket, conf.bridge);
      if (fs.existsSync(socket)) {
        await attempt(`reconcile the anti-spoofing flows on ${socket}`, async () => void (guards = await withOpenFlow(socket, (client) => syncPortGuards(client, db, conf.bridge))));
      }
    } finally {
      db.close();
    }
  }

  // Addresses: every dead attachment of the built-in store (as bridge mode's GC), or with a
  // delegated IPAM the ones the ports proved dead.
  const storeAttachments = conf.ipam.kind === 'builtin' ? ((await attempt('read IPAM store', () => storedAttachments(ctx.store))) ?? []) : [];
  const validKeys = new Set(valid.map(attachmentKey));
  const candidates = conf.ipam.kind === 'builtin' ? storeAttachments.filter((a) => !validKeys.has(attachmentKey(a))) : deadAttachments;
  const dead = listed ? candidates.filter((a) => !keep.has(attachmentKey(a))) : [];
  const released = await gc.release(dead);
  const debris = await gc.sweep();
  log.info({ removedPorts: removed, released, debris, valid: valid.length, ...(guards ? { guardsRemoved: guards.removed, guardsRestored: guards.installed } : {}) }, 'garbage collected (Open vSwitch)');
  gc.finish();
}
