// Pure: each uplink step (plan.ts) as the kernel changes that do it (lib/kernel/change.ts), which
// the plugin's Kernel applies: rtnetlink from its own process on Bun, `ip -batch` on Node and in
// the agent's uninstall. What was read is replayed as it was: an address's broadcast, scope,
// noprefixroute and remaining lifetimes; a route's protocol, scope, metric, preferred source and
// onlink, added with `append` semantics (the same route may still go through the other link).
import { parseCidr, parseIp, type IpAddress, type IpCidr } from '../cidr.ts';
import type { Change } from '../kernel/change.ts';
import { protocolNumber, scopeNumber } from '../kernel/rt-names.ts';
import type { UplinkStep } from './plan.ts';
import type { UplinkAddress, UplinkRoute } from './state.ts';

function ip(text: string): IpAddress {
  const parsed = parseIp(text);
  if (!parsed) throw new Error(`uplink: not an IP address: ${JSON.stringify(text)}`);
  return parsed;
}

function cidr(text: string, family: 4 | 6): IpCidr {
  if (text === 'default') return { family, address: 0n, prefixLength: 0 };
  const parsed = parseCidr(text.includes('/') ? text : `${text}/${family === 4 ? 32 : 128}`);
  if (!parsed) throw new Error(`uplink: not a CIDR: ${JSON.stringify(text)}`);
  return parsed;
}

function address(a: UplinkAddress): IpCidr {
  return { family: a.family, address: ip(a.local).value, prefixLength: a.prefixlen };
}

function addAddress(link: string, a: UplinkAddress): Change {
  return {
    op: 'add-address',
    link,
    address: address(a),
    ...(a.broadcast ? { broadcast: ip(a.broadcast) } : {}),
    ...(a.scope ? { scope: scopeNumber(a.scope) } : {}),
    ...(a.noprefixroute ? { noprefixroute: true } : {}),
    ...(a.validLft !== undefined ? { lifetime: { valid: a.validLft, preferred: a.preferredLft ?? a.validLft } } : {}),
  };
}

function addRoute(r: UplinkRoute): Change {
  return {
    op: 'add-route',
    dst: cidr(r.dst, r.family),
    ...(r.gateway ? { gateway: ip(r.gateway) } : {}),
    link: r.dev,
    append: true,
    ...(r.protocol ? { protocol: protocolNumber(r.protocol) } : {}),
    ...(r.scope ? { scope: scopeNumber(r.scope) } : {}),
    ...(r.prefsrc ? { source: ip(r.prefsrc) } : {}),
    ...(r.metric !== undefined ? { metric: r.metric } : {}),
    ...(r.onlink ? { onlink: true } : {}),
  };
}

function deleteRoute(r: UplinkRoute): Change {
  return {
    op: 'delete-route',
    dst: cidr(r.dst, r.family),
    ...(r.gateway ? { gateway: ip(r.gateway) } : {}),
    link: r.dev,
    ...(r.protocol ? { protocol: protocolNumber(r.protocol) } : {}),
    ...(r.metric !== undefined ? { metric: r.metric } : {}),
  };
}

/**
 * The changes of a step, in order: one for all but a new bridge, which also gets its alias (which
 * RTM_NEWLINK's create ignores, as `ip link add` does) and neither STP nor a forward delay (a new
 * port, a VM's tap, forwards at once). The bridge is made only where none is (`exclusive`), so an
 * undo never deletes a bridge it did not make.
 */
export function stepChanges(step: UplinkStep): Change[] {
  switch (step.op) {
    case 'create-bridge':
      return [
        { op: 'add-bridge', name: step.bridge, mac: step.mac, mtu: step.mtu, stpOff: true, exclusive: true },
        { op: 'set-alias', link: step.bridge, alias: step.alias },
      ];
    case 'delete-bridge':
      return [{ op: 'delete-link', link: step.bridge }];
    case 'set-mac':
      return [{ op: 'set-mac', link: step.link, mac: step.mac }];
    case 'set-alias':
      return [{ op: 'set-alias', link: step.link, alias: step.alias }];
    case 'set-up':
      return [{ op: 'set-up', link: step.link }];
    case 'set-down':
      return [{ op: 'set-down', link: step.link }];
    case 'add-address':
      return [addAddress(step.link, step.address)];
    case 'delete-address':
      return [{ op: 'delete-address', link: step.link, address: address(step.address) }];
    case 'enslave':
      return [{ op: 'set-master', link: step.link, bridge: step.bridge }];
    case 'release':
      return [{ op: 'release-port', link: step.link }];
    case 'add-route':
      return [addRoute(step.route)];
    case 'delete-route':
      return [deleteRoute(step.route)];
  }
}
