// STATUS (spec 1.1): silent success only when an ADD could succeed right now.
import { errorMessage } from '../../lib/errors.ts';
import { formatRange, freeCount } from '../../ipam/index.ts';
import { CniError, ErrorCode } from '../errors.ts';
import { findPlugin } from '../ipam/delegated.ts';
import type { CommandContext } from '../skel.ts';

export async function cmdStatus(ctx: CommandContext): Promise<void> {
  const { conf, args } = ctx;
  if (conf.ipam.kind === 'delegated') {
    try {
      findPlugin(conf.ipam.type, args.cniPath);
    } catch (error) {
      throw new CniError(ErrorCode.NotAvailable, errorMessage(error));
    }
    return;
  }
  // An ADD needs an address of every configured family: either one full is not ready.
  for (const range of conf.ipam.ranges) {
    const store = ctx.store(range.family);
    try {
      store.checkUsable();
    } catch (error) {
      throw new CniError(ErrorCode.NotAvailable, errorMessage(error));
    }
    if (freeCount(store, range) <= 0n) {
      throw new CniError(ErrorCode.NotAvailable, `no free IPv${range.family} pod addresses left in ${formatRange(range)}`);
    }
  }
}
