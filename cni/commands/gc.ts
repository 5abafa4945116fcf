// GC (spec 1.1): remove the host veths and release the addresses of this network's attachments
// that the runtime no longer lists in cni.dev/valid-attachments, and nothing of anyone else's
// (gc-plan.ts says what counts as proof). Keeps going past errors and reports them all.
// Order as in DEL: anti-spoofing elements, then veths, then addresses, so an address is never
// free while a veth still uses it. The elements are read from the kernel, not derived from the
// addresses, so a port whose unguard fails here is simply gone at the next GC, which retries it.
import { attachmentKey, storedAttachments } from '../../ipam/index.ts';
import { CniError, ErrorCode } from '../errors.ts';
import { planGc } from '../gc-plan.ts';
import { unguardPort } from '../plan.ts';
import type { CommandContext } from '../skel.ts';
import { GcRun } from '../gc-run.ts';

export async function cmdGc(ctx: CommandContext): Promise<void> {
  const { conf, kernel, log } = ctx;
  const valid = conf.validAttachments;
  // Without the list we cannot tell live from dead: refusing is safer than deleting everything.
  if (!valid) throw new CniError(ErrorCode.InvalidNetworkConfig, 'GC needs cni.dev/valid-attachments in the config');
  const gc = new GcRun(ctx);
  const attempt = gc.attempt.bind(gc);

  // Every attachment the stores know, of both families whatever the config says now.
  const storeAttachments = conf.ipam.kind === 'builtin' ? ((await attempt('read IPAM store', () => storedAttachments(ctx.store))) ?? []) : [];
  // Elements first, then veths (gc-plan.ts says why); without both reads no port is judged gone.
  const guards = await attempt('list anti-spoofing elements', () => kernel.listGuards());
  const veths = await attempt('list veths', () => kernel.listLinks('veth'));
  const plan = planGc({ network: conf.name, valid, veths: veths ?? [], storeAttachments, guards: guards && veths ? guards : new Map() });
  for (const { name, why } of plan.unproven) log.debug({ veth: name }, `GC leaves a veth it cannot prove is this network's: ${why}`);
  let unguarded = 0;
  for (const { port, elements, why } of plan.unguardPorts) {
    // One port per change: a refused one does not keep the others.
    const ok = await attempt(`remove the anti-spoofing elements of ${port}`, async () => {
      await kernel.apply([unguardPort(port, elements)]);
      return true;
    });
    if (ok) unguarded++;
    log.debug({ port, elements: elements.length, why }, 'GC removes the anti-spoofing elements of a port');
  }
  if (plan.deleteVeths.length > 0) {
    await attempt('delete veths', () => kernel.deleteLinksIfPresent(plan.deleteVeths.map(({ name }) => name)));
  }

  const validKeys = new Set(valid.map(attachmentKey));
  const dead = conf.ipam.kind === 'builtin' ? storeAttachments.filter((a) => !validKeys.has(attachmentKey(a))) : plan.aliasProvenDead;
  const released = await gc.release(dead);
  const debris = await gc.sweep();
  log.info({ deletedVeths: plan.deleteVeths.map((v) => v.name), unguardedPorts: unguarded, released, debris, leftAlone: plan.unproven.length, valid: valid.length }, 'garbage collected');
  gc.finish();
}
