// Pure: which host veths and reservations a GC of one network may remove. A veth is removed only
// when it provably belongs to this network's dead attachment (issue 8 item 3: GC of one network
// deleted another network's live pod on a shared bridge). Proof is either
//   - its alias "bridgeway:<network>:<containerId>:<ifname>" names this network, and its name is
//     the one derived from that attachment (a copied alias proves nothing), or
//   - it has none of our aliases (made before aliases existed, or an ADD died between creating
//     the veth and the line that sets the alias) and its name derives from an attachment in this
//     network's own IPAM store.
// Everything else is left alone and reported, so an operator can see why.
//
// Anti-spoofing elements (lib/antispoof/ruleset.ts) are removed for every port GC deletes, and
// for every port that is gone already (a pod whose netns was deleted without DEL), whichever
// network it was of: the table is the node's, and an element of a port that does not exist
// guards nothing. Proof that such a port is ours and dead: its name is one hostVethName()
// makes, no veth of that name exists, and it is not the port of an attachment the runtime
// still lists. The elements must be read BEFORE the veths: ADD creates the veth before it adds
// its elements, so a port that had elements at the first read and has no veth at the second
// was deleted, not yet to be made.
import type { Element } from '../lib/antispoof/ruleset.ts';
import type { KernelLink } from '../lib/kernel/link.ts';
import { attachmentKey, type Attachment } from '../ipam/index.ts';
import { HOST_VETH_PREFIX, hostVethName, isHostVethName, parseHostVethAlias } from '../lib/names.ts';

export interface GcInput {
  network: string;
  valid: readonly Attachment[];
  /** Every veth in the node's namespace. */
  veths: readonly KernelLink[];
  /** Attachments this network's built-in store knows (none with a delegated IPAM). */
  storeAttachments: readonly Attachment[];
  /** The node's anti-spoofing elements by port, read before `veths` (none when either read failed). */
  guards?: ReadonlyMap<string, readonly Element[]>;
}

export interface GcPlan {
  deleteVeths: { name: string; attachment: Attachment; proof: 'alias' | 'store' }[];
  /** Dead attachments whose veth (if any) the alias proved ours: release them with a delegated IPAM. */
  aliasProvenDead: Attachment[];
  /** Our-looking veths that nothing proves to be this network's: left alone. */
  unproven: { name: string; why: string }[];
  /** Ports whose elements go: those GC deletes ("deleted"), and those already gone ("gone"). */
  unguardPorts: { port: string; elements: readonly Element[]; why: 'deleted' | 'gone' }[];
}

export function planGc(input: GcInput): GcPlan {
  const valid = new Set(input.valid.map(attachmentKey));
  const stored = new Map(input.storeAttachments.map((a) => [hostVethName(a.containerId, a.ifname), a]));
  const plan: GcPlan = { deleteVeths: [], aliasProvenDead: [], unproven: [], unguardPorts: [] };
  for (const link of input.veths) {
    const name = link.name;
    const owner = parseHostVethAlias(link.alias);
    if (owner) {
      if (owner.network !== input.network) continue; // another network's: not ours to judge
      const attachment = { containerId: owner.containerId, ifname: owner.ifname };
      if (hostVethName(attachment.containerId, attachment.ifname) !== name) {
        plan.unproven.push({ name, why: `alias ${link.alias} does not match the veth's name` });
      } else if (!valid.has(attachmentKey(attachment))) {
        plan.deleteVeths.push({ name, attachment, proof: 'alias' });
        plan.aliasProvenDead.push(attachment);
      }
      continue;
    }
    const attachment = stored.get(name);
    if (attachment) {
      if (!valid.has(attachmentKey(attachment))) plan.deleteVeths.push({ name, attachment, proof: 'store' });
    } else if (name.startsWith(HOST_VETH_PREFIX)) {
      plan.unproven.push({ name, why: link.alias ? `alias ${JSON.stringify(link.alias)} is not ours` : 'no alias and no reservation of this network' });
    }
  }
  plan.unguardPorts = planUnguard(input, plan.deleteVeths.map((v) => v.name));
  return plan;
}

function planUnguard(input: GcInput, deleting: readonly string[]): GcPlan['unguardPorts'] {
  const live = new Set(input.veths.map((v) => v.name));
  const listed = new Set(input.valid.map((a) => hostVethName(a.containerId, a.ifname)));
  const out: GcPlan['unguardPorts'] = [];
  for (const [port, elements] of input.guards ?? []) {
    if (!isHostVethName(port) || listed.has(port) || elements.length === 0) continue;
    if (deleting.includes(port)) out.push({ port, elements, why: 'deleted' });
    else if (!live.has(port)) out.push({ port, elements, why: 'gone' });
  }
  return out;
}
