// GC's way for every attachment kind (bridge, macvlan, Open vSwitch): each step's failure is
// noted and the rest go on, and one error names them all at the end; the addresses of the
// attachments proven dead are released one at a time (the one release path, ipam/index.ts) and
// the IPAM store's temp files of killed writers swept.
import { errorMessage } from '../lib/errors.ts';
import type { Attachment } from '../ipam/index.ts';
import { sweepDebris } from '../ipam/index.ts';
import { CniError, ErrorCode } from './errors.ts';
import { ipamFor } from './ipam/index.ts';
import type { CommandContext } from './skel.ts';

export class GcRun {
  readonly failures: string[] = [];
  private readonly ctx: CommandContext;
  private readonly describe: (error: unknown) => string;

  constructor(ctx: CommandContext, describe: (error: unknown) => string = errorMessage) {
    this.ctx = ctx;
    this.describe = describe;
  }

  /** The action's value, or undefined with its failure noted. */
  async attempt<T>(what: string, action: () => Promise<T> | T): Promise<T | undefined> {
    try {
      return await action();
    } catch (error) {
      this.failures.push(`${what}: ${this.describe(error)}`);
      return undefined;
    }
  }

  /** Releases each dead attachment's addresses; how many attachments were released. */
  async release(dead: readonly Attachment[]): Promise<number> {
    const { conf, run, store, args } = this.ctx;
    let released = 0;
    for (const attachment of dead) {
      const ok = await this.attempt(`release ${attachment.containerId}/${attachment.ifname}`, async () => {
        await ipamFor(conf, { ...args, containerId: attachment.containerId, ifname: attachment.ifname, netns: '' }, { run, store }).del();
        return true;
      });
      if (ok) released++;
    }
    return released;
  }

  /** Temp files of writers killed mid-write (ipam/debris.ts); none with a delegated IPAM plugin. */
  async sweep(): Promise<number | undefined> {
    return this.ctx.conf.ipam.kind === 'builtin' ? await this.attempt('sweep IPAM temp files', () => sweepDebris(this.ctx.store)) : 0;
  }

  /** Throws one error naming every failure, if any. */
  finish(): void {
    if (this.failures.length > 0) throw new CniError(ErrorCode.IoFailure, `GC incomplete: ${this.failures.join('; ')}`);
  }
}
