// DEL in macvlan mode: best-effort and idempotent, as in bridge mode. The pod's macvlan lives in
// the pod's namespace only (it goes with it when the runtime removes the namespace first), so DEL
// deletes CNI_IFNAME there when the namespace is still there and the link is a macvlan (another
// kind by that name is not ours: left alone), then releases the address.
import { checkNetnsPath } from '../../lib/iproute2/netns.ts';
import { runEveryStep } from '../steps.ts';
import { ipamFor, type Released } from '../ipam/index.ts';
import type { CommandContext } from '../skel.ts';

export async function macvlanDel(ctx: CommandContext): Promise<void> {
  const { args, conf, run, kernel, log } = ctx;
  let link = 'no namespace' as 'deleted' | 'already gone' | 'not a macvlan: left alone' | 'no namespace';
  let released: Released | undefined;
  const steps: [string, () => Promise<void>][] = [
    [`delete ${args.ifname} in ${args.netns || 'the pod'}`, async () => {
      if (!args.netns || !checkNetnsPath(args.netns).ok) return;
      const existing = await kernel.getLink(args.ifname, args.netns);
      if (!existing) return void (link = 'already gone');
      if (existing.kind !== 'macvlan') return void (link = 'not a macvlan: left alone');
      await kernel.apply([{ op: 'delete-link', link: args.ifname }], [], args.netns);
      link = 'deleted';
    }],
    ['release address', async () => void (released = await ipamFor(conf, args, { run, store: ctx.store }).del())],
  ];
  await runEveryStep(steps);
  const done = { link, address: released === 'none' ? 'none held' : released === 'delegated' ? 'released by the IPAM plugin' : `released ${released!.addresses.join(', ')}` };
  if (link === 'deleted' || typeof released === 'object') log.info(done, 'pod detached (macvlan)');
  else log.debug(done, 'nothing to detach');
}
