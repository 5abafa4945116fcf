// Macvlan mode's commands, loaded by cni/macvlan/dispatch.ts only for a network in that mode, so
// a bridge-mode plugin start never parses them. The gratuitous ARP and NA go out of a packet
// socket through libc where the runtime has FFI (the Bun executable).
import type { Libc } from '../../lib/netlink/socket.ts';
import { sendFrames } from '../../lib/packet/socket.ts';
import type { Commands } from './dispatch.ts';
import { macvlanAdd, type Announce } from './add.ts';
import { macvlanCheck } from './check.ts';
import { macvlanDel } from './del.ts';
import { macvlanGc } from './gc.ts';
import { macvlanStatus } from './status.ts';

/** `libc`: the process's libc, loaded on first use; undefined on a runtime without FFI. */
export function macvlanCommands(deps: { libc: () => Libc | undefined } | { announce: Announce }): Commands {
  const announce: Announce = 'announce' in deps ? deps.announce : (netns, ifindex, frames) => {
    const libc = deps.libc();
    if (!libc) throw new Error('no packet socket in this runtime (the bundle on Node has no FFI): the LAN learns the pod\'s MAC from its first packet');
    sendFrames(libc, netns, ifindex, frames);
  };
  return { ADD: (ctx) => macvlanAdd(ctx, { announce }), DEL: macvlanDel, CHECK: macvlanCheck, STATUS: macvlanStatus, GC: macvlanGc };
}
