// The plugin's commands by the network's mode: bridge mode's (cni/commands/), macvlan mode's
// (cni/macvlan/commands.ts) or an Open vSwitch bridge's (cni/ovs/commands.ts), each loaded only when
// a network of its kind asks: the Linux-bridge plugin's start-up stays as small as before. One switch, at the door, so neither mode's commands ask
// which mode they are in.
import type { CniCommand, CommandHandler } from '../skel.ts';

export type Commands = Record<Exclude<CniCommand, 'VERSION'>, CommandHandler>;

export function byMode(bridge: Commands, macvlan: () => Promise<Commands>, ovs?: () => Promise<Commands>): Commands {
  const pick = (command: keyof Commands): CommandHandler => async (ctx) => {
    if (ctx.conf.mode === 'macvlan') return (await macvlan())[command](ctx);
    if (ctx.conf.bridgeType === 'ovs' && ovs) return (await ovs())[command](ctx);
    return bridge[command](ctx);
  };
  return { ADD: pick('ADD'), DEL: pick('DEL'), CHECK: pick('CHECK'), STATUS: pick('STATUS'), GC: pick('GC') };
}
