// The iproute2 spelling of a kernel change (lib/kernel/change.ts): the line `ip -batch` runs for
// it, and how errors and logs name a change with either backend, so an admin can replay it by hand.
// A sysctl has no `ip` line; it is named as the `sysctl -w` that sets it (procps reads the key's
// slashes as a path, so an interface name with dots stays intact).
import { formatCidr, formatIp, type IpAddress, type IpCidr } from '../cidr.ts';
import { protocolName, scopeName } from '../kernel/rt-names.ts';
import { renderElements } from '../antispoof/nft-text.ts';
import { antispoofRuleset } from '../antispoof/ruleset.ts';
import { toleratedFailure, type AddressDetails, type Change, type LinkQuery, type PortGuardChange, type RouteDetails } from '../kernel/change.ts';
import type { IpCommand } from './batch.ts';

/** IPv6 addresses get `nodad`; link-local ones are recognised by iproute2 itself. */
function addressArgs(address: IpCidr, details: AddressDetails): string[] {
  const args: string[] = [];
  if (details.broadcast) args.push('broadcast', formatIp(details.broadcast));
  if (details.scope !== undefined) args.push('scope', scopeName(details.scope));
  if (details.noprefixroute) args.push('noprefixroute');
  if (address.family === 6) args.push('nodad');
  if (details.lifetime) args.push('valid_lft', String(details.lifetime.valid), 'preferred_lft', String(details.lifetime.preferred));
  return args;
}

/** A route's options after its device, in ip's order; the family comes from the addresses (a batch line cannot say -6). */
function routeArgs(details: RouteDetails & { source?: IpAddress }): string[] {
  const args: string[] = [];
  if (details.protocol !== undefined) args.push('proto', protocolName(details.protocol));
  if (details.scope !== undefined) args.push('scope', scopeName(details.scope));
  if (details.source) args.push('src', formatIp(details.source));
  if (details.metric !== undefined) args.push('metric', String(details.metric));
  if (details.onlink) args.push('onlink');
  return args;
}

/** The changes `ip` itself makes: everything but sysctls and the anti-spoofing table (nft's). */
export type IpChange = Exclude<Change, { op: 'set-sysctl' } | PortGuardChange>;

export function toIpCommand(change: IpChange | LinkQuery): IpCommand {
  switch (change.op) {
    case 'add-bridge':
      return withTolerance(change, ['link', 'add', change.name, 'address', change.mac, 'mtu', String(change.mtu), 'type', 'bridge',
        ...(change.stpOff ? ['stp_state', '0', 'forward_delay', '0'] : [])]);
    case 'set-up':
      return { args: ['link', 'set', change.link, 'up'] };
    case 'set-down':
      return { args: ['link', 'set', change.link, 'down'] };
    // An empty alias as `""`: ip's batch reader and a shell both take it as the empty argument.
    case 'set-alias':
      return { args: ['link', 'set', 'dev', change.link, 'alias', change.alias === '' ? '""' : change.alias] };
    case 'set-master':
      return { args: ['link', 'set', 'dev', change.link, 'master', change.bridge] };
    case 'release-port':
      return { args: ['link', 'set', 'dev', change.link, 'nomaster'] };
    case 'add-address': {
      const { op: _op, link, address, replace, ...details } = change;
      return { args: ['addr', replace ? 'replace' : 'add', formatCidr(address), 'dev', link, ...addressArgs(address, details)] };
    }
    case 'delete-address':
      return { args: ['addr', 'del', formatCidr(change.address), 'dev', change.link] };
    case 'add-veth': {
      const { peer } = change;
      return {
        args: ['link', 'add', change.name, 'mtu', String(change.mtu), 'address', change.mac, 'type', 'veth',
          'peer', 'name', peer.name, 'mtu', String(peer.mtu), 'address', peer.mac, 'netns', peer.netns],
      };
    }
    case 'attach-port':
      return { args: ['link', 'set', change.link, 'master', change.bridge, 'alias', change.alias, 'up'] };
    case 'set-hairpin':
      return { args: ['link', 'set', change.link, 'type', 'bridge_slave', 'hairpin', change.on ? 'on' : 'off'] };
    case 'set-mac':
      return { args: ['link', 'set', 'dev', change.link, 'address', change.mac] };
    case 'add-route':
      return {
        args: ['route', change.replace ? 'replace' : change.append ? 'append' : 'add', formatCidr(change.dst), ...(change.gateway ? ['via', formatIp(change.gateway)] : []), 'dev', change.link,
          ...routeArgs(change)],
      };
    case 'delete-route':
      return {
        args: ['route', 'del', formatCidr(change.dst), ...(change.gateway ? ['via', formatIp(change.gateway)] : []), 'dev', change.link,
          ...routeArgs({ ...(change.protocol !== undefined ? { protocol: change.protocol } : {}), ...(change.metric !== undefined ? { metric: change.metric } : {}) })],
      };
    case 'add-macvlan':
      return withTolerance(change, ['link', 'add', change.name, 'link', change.master, ...(change.mac ? ['address', change.mac] : []), 'mtu', String(change.mtu),
        ...(change.netns ? ['netns', change.netns] : []), 'type', 'macvlan', 'mode', change.mode]);
    case 'delete-link':
      return withTolerance(change, ['link', 'del', change.link]);
    case 'show-link':
      return { args: ['link', 'show', 'dev', change.link] };
    case 'show-ports':
      return { args: ['link', 'show', 'master', change.bridge] };
  }
}

function withTolerance(change: IpChange, args: string[]): IpCommand {
  const tolerate = toleratedFailure(change);
  return tolerate ? { args, tolerate } : { args };
}

/**
 * The `nft -f` text of an anti-spoofing change: an `add element` or `delete element` line per set
 * (lib/antispoof/nft-text.ts), what the iproute2 backend pipes to nft.
 */
function toNftText(change: PortGuardChange): string {
  return renderElements(antispoofRuleset(), change.op === 'guard-port' ? 'add' : 'delete', change.elements);
}

/** How errors and logs name a change: its iproute2 spelling (nft's for the anti-spoofing table). */
export function describeChange(change: Change | LinkQuery): string {
  if (change.op === 'set-sysctl') return `sysctl -w ${change.key}=${change.value}`;
  if (change.op === 'guard-port' || change.op === 'unguard-port') return `nft '${toNftText(change).trimEnd().split('\n').join('; ')}'`;
  return toIpCommand(change).args.join(' ');
}
