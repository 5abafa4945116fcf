// DEL: best-effort and idempotent (spec). Deleting the host end of the veth removes the pod end
// too, so a missing or already-destroyed netns needs no special case. Every step runs; errors
// are collected and reported together. The log says what DEL actually did: kubelet repeats DEL
// for every pod, so a line at info only when something changed (issue 12 item 4).
import { runEveryStep } from '../steps.ts';
import { ipamFor, type Released } from '../ipam/index.ts';
import type { CommandContext } from '../skel.ts';
import { hostVethName } from '../../lib/names.ts';
import { heldAddresses } from '../held-addresses.ts';
import { podElements, unguardPort } from '../plan.ts';

export async function cmdDel(ctx: CommandContext): Promise<void> {
  const { args, conf, run, kernel, log } = ctx;
  const hostVeth = hostVethName(args.containerId, args.ifname);
  let vethDeleted: boolean | undefined;
  let released: Released | undefined;
  let unguarded: number | undefined;
  const unguard = async () => {
    const elements = podElements(hostVeth, heldAddresses(conf, args, ctx.store));
    // Nothing held (a repeated DEL): no change, so no nfnetlink socket either.
    if (elements.length > 0) await kernel.apply([unguardPort(hostVeth, elements)]);
    unguarded = elements.length;
  };
  const steps: [string, () => Promise<void>][] = [
    ...(conf.antiSpoofing ? [[`remove the anti-spoofing elements of ${hostVeth}`, unguard] as [string, () => Promise<void>]] : []),
    [`delete veth ${hostVeth}`, async () => void (vethDeleted = await kernel.deleteLinkIfPresent(hostVeth))],
    ['release address', async () => {
      if (conf.antiSpoofing && unguarded === undefined) throw new Error('kept until the anti-spoofing elements are removed');
      released = await ipamFor(conf, args, { run, store: ctx.store }).del();
    }],
  ];
  await runEveryStep(steps);
  const done = { hostVeth, veth: vethDeleted ? 'deleted' : 'already gone', address: describeRelease(released!), ...(unguarded ? { antiSpoofingElements: unguarded } : {}) };
  // A delegated IPAM plugin does not say whether it held anything: only the veth tells then.
  if (vethDeleted || typeof released === 'object') log.info(done, 'pod detached');
  else log.debug(done, 'nothing to detach');
}

function describeRelease(released: Released): string {
  if (released === 'none') return 'none held';
  if (released === 'delegated') return 'released by the IPAM plugin';
  return `released ${released.addresses.join(', ')}`;
}
