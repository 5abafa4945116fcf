// The plugin's commands by the network's mode: bridge mode's (cni/commands/) or macvlan mode's
// (here). One switch, at the door, so neither mode's commands ask which mode they are in.
import type { CniCommand, CommandHandler } from '../skel.ts';
import { macvlanAdd, type MacvlanDeps } from './add.ts';
import { macvlanCheck } from './check.ts';
import { macvlanDel } from './del.ts';
import { macvlanGc } from './gc.ts';
import { macvlanStatus } from './status.ts';

type Commands = Record<Exclude<CniCommand, 'VERSION'>, CommandHandler>;

export function macvlanCommands(deps: MacvlanDeps): Commands {
  return { ADD: (ctx) => macvlanAdd(ctx, deps), DEL: macvlanDel, CHECK: macvlanCheck, STATUS: macvlanStatus, GC: macvlanGc };
}

export function byMode(bridge: Commands, macvlan: Commands): Commands {
  const pick = (command: keyof Commands): CommandHandler => (ctx) => (ctx.conf.mode === 'macvlan' ? macvlan : bridge)[command](ctx);
  return { ADD: pick('ADD'), DEL: pick('DEL'), CHECK: pick('CHECK'), STATUS: pick('STATUS'), GC: pick('GC') };
}
