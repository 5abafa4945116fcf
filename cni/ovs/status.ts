// STATUS on an Open vSwitch bridge: bridge mode's (IPAM can allocate), and the database answers.
import { errorMessage } from '../../lib/errors.ts';
import { cmdStatus } from '../commands/status.ts';
import { CniError, ErrorCode } from '../errors.ts';
import type { CommandContext } from '../skel.ts';
import { openDb } from './db.ts';
import { selectBridge } from './ops.ts';

export async function ovsStatus(ctx: CommandContext): Promise<void> {
  await cmdStatus(ctx);
  try {
    const db = await openDb(ctx.conf.ovs!.socket);
    try {
      await db.transact([selectBridge(ctx.conf.bridge)]);
    } finally {
      db.close();
    }
  } catch (error) {
    throw new CniError(ErrorCode.NotAvailable, errorMessage(error));
  }
}
