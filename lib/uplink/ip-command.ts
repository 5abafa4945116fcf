// Each uplink step spelled as the `ip` command that does the same: how an error names a step so an
// admin can replay it (or its inverse) by hand. Nothing runs these: apply.ts hands the step's
// kernel changes (changes.ts) to a Kernel.
import type { UplinkAddress, UplinkRoute } from './state.ts';
import type { UplinkStep } from './plan.ts';

function addressArgs(link: string, a: UplinkAddress, adding: boolean): string[] {
  const args = [`${a.local}/${a.prefixlen}`];
  if (adding) {
    if (a.broadcast) args.push('broadcast', a.broadcast);
    if (a.scope) args.push('scope', a.scope);
    if (a.noprefixroute) args.push('noprefixroute');
    // The node's own address, already unique on the LAN: duplicate detection would only leave it
    // unusable ("tentative") for a second on the bridge.
    if (a.family === 6) args.push('nodad');
    if (a.validLft !== undefined) args.push('valid_lft', String(a.validLft), 'preferred_lft', String(a.preferredLft ?? a.validLft));
  }
  return ['dev', link, ...args];
}

function routeArgs(r: UplinkRoute, adding: boolean): string[] {
  const args = [r.dst];
  if (r.gateway) args.push('via', r.gateway);
  args.push('dev', r.dev);
  if (r.protocol) args.push('proto', r.protocol);
  if (adding && r.scope) args.push('scope', r.scope);
  if (adding && r.prefsrc) args.push('src', r.prefsrc);
  if (r.metric !== undefined) args.push('metric', String(r.metric));
  if (adding && r.onlink) args.push('onlink');
  return ['table', 'main', ...args];
}

/**
 * The commands of a step, in order: one for all but a new bridge, which also gets its alias (which
 * `ip link add` ignores) and neither STP nor a forward delay (a new port, a VM's tap, forwards at once).
 */
export function stepCommands(step: UplinkStep): string[][] {
  if (step.op !== 'create-bridge') return [stepCommand(step)];
  return [
    ['ip', 'link', 'add', 'name', step.bridge, 'address', step.mac, 'mtu', String(step.mtu), 'type', 'bridge', 'stp_state', '0', 'forward_delay', '0'],
    ['ip', 'link', 'set', 'dev', step.bridge, 'alias', step.alias],
  ];
}

/** One step as one command line (a new bridge: the line that makes it). */
export function stepCommand(step: UplinkStep): string[] {
  switch (step.op) {
    case 'create-bridge':
      return stepCommands(step)[0]!;
    case 'delete-bridge':
      return ['ip', 'link', 'del', 'dev', step.bridge];
    case 'set-mac':
      return ['ip', 'link', 'set', 'dev', step.link, 'address', step.mac];
    case 'set-alias':
      return ['ip', 'link', 'set', 'dev', step.link, 'alias', step.alias];
    case 'set-up':
      return ['ip', 'link', 'set', 'dev', step.link, 'up'];
    case 'set-down':
      return ['ip', 'link', 'set', 'dev', step.link, 'down'];
    case 'add-address':
      return ['ip', `-${step.address.family}`, 'addr', 'add', ...addressArgs(step.link, step.address, true)];
    case 'delete-address':
      return ['ip', `-${step.address.family}`, 'addr', 'del', ...addressArgs(step.link, step.address, false)];
    case 'enslave':
      return ['ip', 'link', 'set', 'dev', step.link, 'master', step.bridge];
    case 'release':
      return ['ip', 'link', 'set', 'dev', step.link, 'nomaster'];
    // `append`: the same route through the other link may be there until this step's pair deletes it.
    case 'add-route':
      return ['ip', `-${step.route.family}`, 'route', 'append', ...routeArgs(step.route, true)];
    case 'delete-route':
      return ['ip', `-${step.route.family}`, 'route', 'del', ...routeArgs(step.route, false)];
  }
}

