// GC in macvlan mode. A pod's macvlan lives only in the pod's namespace and dies with it, and GC
// is given no namespace of a dead attachment: there is nothing of the pod's in the node to
// delete, and no link is ever judged by its name. What GC frees is the attachment's own data:
// the reservations of this network's store (dataDir/<network>, each naming its containerID and
// ifname) whose attachment the runtime no longer lists. The host shim is no attachment and holds
// no reservation, so it is never collected. A delegated IPAM plugin keeps its own books: nothing
// here proves which of its addresses are ours.
import { errorMessage } from '../../lib/errors.ts';
import { attachmentKey, storedAttachments, sweepDebris } from '../../ipam/index.ts';
import { CniError, ErrorCode } from '../errors.ts';
import { ipamFor } from '../ipam/index.ts';
import type { CommandContext } from '../skel.ts';

export async function macvlanGc(ctx: CommandContext): Promise<void> {
  const { conf, run, log } = ctx;
  const valid = conf.validAttachments;
  if (!valid) throw new CniError(ErrorCode.InvalidNetworkConfig, 'GC needs cni.dev/valid-attachments in the config');
  if (conf.ipam.kind !== 'builtin') {
    log.info({ valid: valid.length }, 'garbage collected (macvlan, delegated IPAM: nothing of ours to release)');
    return;
  }
  const failures: string[] = [];
  const validKeys = new Set(valid.map(attachmentKey));
  let dead: ReturnType<typeof storedAttachments> = [];
  try {
    dead = storedAttachments(ctx.store).filter((a) => !validKeys.has(attachmentKey(a)));
  } catch (error) {
    failures.push(`read IPAM store: ${errorMessage(error)}`);
  }
  let released = 0;
  for (const attachment of dead) {
    try {
      await ipamFor(conf, { ...ctx.args, containerId: attachment.containerId, ifname: attachment.ifname, netns: '' }, { run, store: ctx.store }).del();
      released++;
    } catch (error) {
      failures.push(`release ${attachment.containerId}/${attachment.ifname}: ${errorMessage(error)}`);
    }
  }
  let debris = 0;
  try {
    debris = sweepDebris(ctx.store);
  } catch (error) {
    failures.push(`sweep IPAM temp files: ${errorMessage(error)}`);
  }
  log.info({ released, debris, valid: valid.length }, 'garbage collected (macvlan)');
  if (failures.length > 0) throw new CniError(ErrorCode.IoFailure, `GC incomplete: ${failures.join('; ')}`);
}
