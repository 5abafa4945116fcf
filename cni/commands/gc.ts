// GC (spec 1.1): release the addresses and remove the host veths of every attachment the
// runtime no longer lists in cni.dev/valid-attachments. Keeps going past errors.
import { errorMessage } from '../../lib/errors.ts';
import { runIpBatch } from '../../lib/iproute2/batch.ts';
import { listBridgePorts } from '../../lib/iproute2/link.ts';
import { attachmentKey } from '../../ipam/store.ts';
import { CniError, ErrorCode } from '../errors.ts';
import { HOST_VETH_PREFIX, hostVethName } from '../plan.ts';
import type { CommandContext } from '../skel.ts';

export async function cmdGc(ctx: CommandContext): Promise<void> {
  const { conf, run, log } = ctx;
  const valid = conf.validAttachments;
  // Without the list we cannot tell live from dead: refusing is safer than deleting everything.
  if (!valid) throw new CniError(ErrorCode.InvalidNetworkConfig, 'GC needs cni.dev/valid-attachments in the config');
  const validKeys = new Set(valid.map(attachmentKey));
  const validVeths = new Set(valid.map((a) => hostVethName(a.containerId, a.ifname)));
  const failures: string[] = [];
  let released = 0;
  let debris = 0;
  let deletedVeths: string[] = [];

  if (conf.ipam.kind === 'builtin') {
    try {
      const store = ctx.store();
      for (const { attachment } of store.list()) {
        if (!validKeys.has(attachmentKey(attachment))) {
          store.release(attachment);
          released++;
        }
      }
      for (const attachment of store.listAttachments()) {
        if (!validKeys.has(attachmentKey(attachment))) store.forgetAttachment(attachment);
      }
      debris = store.sweepDebris();
    } catch (error) {
      failures.push(`IPAM: ${errorMessage(error)}`);
    }
  } else {
    log.info({ ipam: conf.ipam.type }, 'GC leaves the delegated IPAM plugin\'s reservations to that plugin');
  }

  try {
    const ports = await listBridgePorts(run, conf.bridge);
    deletedVeths = ports.map((p) => p.ifname).filter((name) => name.startsWith(HOST_VETH_PREFIX) && !validVeths.has(name));
    await runIpBatch(run, deletedVeths.map((name) => ({ args: ['link', 'del', name], tolerate: 'missing' as const })));
  } catch (error) {
    failures.push(`veths: ${errorMessage(error)}`);
  }

  log.info({ released, debris, deletedVeths, valid: valid.length }, 'garbage collected');
  if (failures.length > 0) throw new CniError(ErrorCode.IoFailure, `GC incomplete: ${failures.join('; ')}`);
}
