// The NetworkPolicy table as the kernel holds it, in a form two loads of the same contents share:
// what the policy tests compare a minimal diff's result and the enforcer's with a fresh load by.
import { POLICY_TABLE } from '../../lib/names.ts';
import { execIn } from './exec-in.ts';

/** The policy table as `nft -j list table` shows it in `ns`, with handles dropped, set elements sorted, objects by kind and name. */
export async function canonicalPolicyListing(ns: string): Promise<unknown> {
  const { stdout } = await execIn(ns, ['nft', '-j', 'list', 'table', 'inet', POLICY_TABLE]);
  const objects = (JSON.parse(stdout).nftables as Record<string, any>[]).filter((o) => !o.metainfo);
  const strip = (v: unknown): unknown => (Array.isArray(v) ? v.map(strip) : v && typeof v === 'object' ? Object.fromEntries(Object.entries(v).filter(([k]) => k !== 'handle').map(([k, x]) => [k, strip(x)])) : v);
  return objects.map((o) => {
    const [kind, body] = Object.entries(strip(o) as Record<string, any>)[0]!;
    if ((kind === 'set' || kind === 'map') && body.elem) body.elem = body.elem.map((e: unknown) => JSON.stringify(e)).sort();
    return { kind, key: `${kind} ${body.chain ?? ''} ${body.name ?? ''}`, body };
  }).sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
}
