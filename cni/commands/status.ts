// STATUS (spec 1.1): silent success only when an ADD could succeed right now.
import { formatIpv4 } from '../../lib/cidr.ts';
import { errorMessage } from '../../lib/errors.ts';
import { freeCount } from '../../ipam/allocator.ts';
import { CniError, ErrorCode } from '../errors.ts';
import { findPlugin } from '../ipam.ts';
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
  const store = ctx.store();
  try {
    store.checkUsable();
  } catch (error) {
    throw new CniError(ErrorCode.NotAvailable, errorMessage(error));
  }
  if (freeCount(store, conf.ipam.range) <= 0) {
    const { start, end } = conf.ipam.range;
    throw new CniError(ErrorCode.NotAvailable, `no free pod addresses left in ${formatIpv4(start)}-${formatIpv4(end)}`);
  }
}
