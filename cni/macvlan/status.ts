// STATUS in macvlan mode: silent success only when an ADD could succeed right now and give the
// pod a working link: IPAM as in bridge mode, and a master that exists and is up (a macvlan of a
// NIC that is down has no carrier).
import { cmdStatus } from '../commands/status.ts';
import { CniError, ErrorCode, toCniError } from '../errors.ts';
import type { CommandContext } from '../skel.ts';
import { resolveMaster } from './master.ts';

export async function macvlanStatus(ctx: CommandContext): Promise<void> {
  let master;
  try {
    master = resolveMaster(ctx.conf.macvlan!, await ctx.kernel.readNamespace('', { ipv6: true }));
  } catch (error) {
    throw new CniError(ErrorCode.NotAvailable, toCniError(error).message);
  }
  if (!master.up) throw new CniError(ErrorCode.NotAvailable, `the master ${master.name} is down: pods would get a macvlan without carrier; bring it up (ip link set ${master.name} up)`);
  await cmdStatus(ctx);
}
