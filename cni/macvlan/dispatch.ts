// The plugin's commands by the network's mode: bridge mode's (cni/commands/) or macvlan mode's
// (cni/macvlan/commands.ts, loaded only when a network in that mode asks: the bridge-mode plugin's
// start-up stays as small as before). One switch, at the door, so neither mode's commands ask
// which mode they are in.
import type { CniCommand, CommandHandler } from '../skel.ts';

export type Commands = Record<Exclude<CniCommand, 'VERSION'>, CommandHandler>;

export function byMode(bridge: Commands, macvlan: () => Promise<Commands>): Commands {
  const pick = (command: keyof Commands): CommandHandler => async (ctx) => (ctx.conf.mode === 'macvlan' ? (await macvlan())[command](ctx) : bridge[command](ctx));
  return { ADD: pick('ADD'), DEL: pick('DEL'), CHECK: pick('CHECK'), STATUS: pick('STATUS'), GC: pick('GC') };
}
