// DEL on an Open vSwitch bridge: the port (only if its external_ids prove it is this
// attachment's), its anti-spoofing flows (guard.ts, by cookie: whatever the config says now, a
// guard must not outlive its port, as OVS may give its ofport to the next), the veth, the address;
// best-effort and idempotent as bridge mode's DEL: every
// step runs, errors are reported together. A database that does not answer fails DEL (code 11),
// so the runtime retries it and the port row is not left behind for good.
import { hostVethName } from '../../lib/names.ts';
import { runEveryStep } from '../steps.ts';
import { ipamFor } from '../ipam/index.ts';
import type { CommandContext } from '../skel.ts';
import { asCniError, findPort, openDb } from './db.ts';
import { removeGuard } from './guard.ts';
import { removePort, isOwnPort } from './ops.ts';
import { dropQos, qosOwnerIds } from './qos.ts';

export async function ovsDel(ctx: CommandContext): Promise<void> {
  const { args, conf, run, kernel, log } = ctx;
  const hostVeth = hostVethName(args.containerId, args.ifname);
  const done: Record<string, string> = { hostVeth };
  const steps: [string, () => Promise<void>][] = [
    [`remove port ${hostVeth} from Open vSwitch`, async () => {
      const db = await openDb(conf.ovs!.socket);
      try {
        const port = await findPort(db, hostVeth);
        if (!port) {
          done.port = 'already gone';
          await db.transact(dropQos(qosOwnerIds(conf.name, args.containerId, args.ifname))); // left by an interrupted rollback
        } else if (!isOwnPort(port.ids, conf.name, args.containerId, args.ifname)) {
          done.port = 'not ours, left alone';
          log.warn({ port: hostVeth, externalIds: port.ids }, 'an Open vSwitch port of our name does not name this attachment: left alone');
        } else {
          await db.transact(removePort(port.uuid, port.ids));
          done.port = 'removed';
        }
      } catch (error) {
        throw asCniError(error);
      } finally {
        db.close();
      }
    }],
    [`remove the anti-spoofing flows of ${hostVeth}`, async () => {
      // After the port: while the port is on the bridge, its pod stays guarded.
      if (done.port === undefined) throw new Error('kept until the port is removed');
      done.flows = await removeGuard({ ovsdbSocket: conf.ovs!.socket, bridge: conf.bridge, network: conf.name, containerId: args.containerId, ifname: args.ifname });
    }],
    [`delete veth ${hostVeth}`, async () => void (done.veth = (await kernel.deleteLinkIfPresent(hostVeth)) ? 'deleted' : 'already gone')],
    ['release address', async () => {
      const released = await ipamFor(conf, args, { run, store: ctx.store }).del();
      done.address = released === 'none' ? 'none held' : released === 'delegated' ? 'released by the IPAM plugin' : `released ${released.addresses.join(', ')}`;
    }],
  ];
  await runEveryStep(steps);
  if (done.port === 'removed' || done.veth === 'deleted' || done.address?.startsWith('released ')) log.info(done, 'pod detached (Open vSwitch)');
  else log.debug(done, 'nothing to detach');
}
