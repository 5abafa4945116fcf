// GC in macvlan mode. A pod's macvlan lives only in the pod's namespace and dies with it, and GC
// is given no namespace of a dead attachment: there is nothing of the pod's in the node to
// delete, and no link is ever judged by its name. What GC frees is the attachment's own data:
// the reservations of this network's store (dataDir/<network>, each naming its containerID and
// ifname) whose attachment the runtime no longer lists. The host shim is no attachment and holds
// no reservation, so it is never collected. A delegated IPAM plugin keeps its own books: nothing
// here proves which of its addresses are ours.
import { attachmentKey, storedAttachments } from '../../ipam/index.ts';
import { CniError, ErrorCode } from '../errors.ts';
import type { CommandContext } from '../skel.ts';
import { GcRun } from '../gc-run.ts';

export async function macvlanGc(ctx: CommandContext): Promise<void> {
  const { conf, log } = ctx;
  const valid = conf.validAttachments;
  if (!valid) throw new CniError(ErrorCode.InvalidNetworkConfig, 'GC needs cni.dev/valid-attachments in the config');
  if (conf.ipam.kind !== 'builtin') {
    log.info({ valid: valid.length }, 'garbage collected (macvlan, delegated IPAM: nothing of ours to release)');
    return;
  }
  const gc = new GcRun(ctx);
  const validKeys = new Set(valid.map(attachmentKey));
  const stored = (await gc.attempt('read IPAM store', () => storedAttachments(ctx.store))) ?? [];
  const released = await gc.release(stored.filter((a) => !validKeys.has(attachmentKey(a))));
  const debris = await gc.sweep();
  log.info({ released, debris, valid: valid.length }, 'garbage collected (macvlan)');
  gc.finish();
}
