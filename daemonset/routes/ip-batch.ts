// The one spelling of our route changes as `ip -batch` lines, for the agent's batch and for the
// commands the doctor tells an admin to run by hand. Every route carries our protocol number:
// that is how the agent (and teardown, and the doctor) find exactly ours.
import type { IpCommand } from '../../lib/iproute2/batch.ts';
import { ROUTE_PROTO } from '../../lib/names.ts';
import type { RouteChange } from './plan.ts';

function routeCommand(change: RouteChange): IpCommand {
  switch (change.op) {
    case 'add-route':
      return { args: ['route', 'add', change.dst, 'via', change.via, 'dev', change.dev, 'proto', ROUTE_PROTO], tolerate: 'exists' };
    case 'replace-route':
      return { args: ['route', 'replace', change.dst, 'via', change.via, 'dev', change.dev, 'proto', ROUTE_PROTO] };
    case 'delete-route':
      return { args: ['route', 'del', change.dst, 'proto', ROUTE_PROTO], tolerate: 'missing' };
  }
}

export function routeCommands(changes: readonly RouteChange[]): IpCommand[] {
  return changes.map(routeCommand);
}

/** A change as an admin types it: `ip route add ... proto 77`. */
export function describeRouteChange(change: RouteChange): string {
  return `ip ${routeCommand(change).args.join(' ')}`;
}
