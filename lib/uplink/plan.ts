// Pure: the steps that move a NIC's addresses and routes onto a bridge that holds the NIC (the
// bridged LAN: `brctl addif br0 eth1` with the node's address moved to br0), and the steps that
// give them back. Each step is data with its exact inverse, so apply.ts can undo a move that
// fails half-way and leave the node as it was.
//
// The order keeps the node reachable at every moment (a ping between nodes loses at most one
// packet across the whole move):
//   1. the bridge exists, up, with the NIC's MAC (and MTU): the LAN's ARP caches stay right,
//      since the node's addresses keep their MAC;
//   2. every address of the NIC is added on the bridge too (IPv6 with nodad: it is the node's
//      own, already unique on the LAN);
//   3. the NIC becomes the bridge's port: from now on frames it receives go up through the
//      bridge, which already holds the addresses; frames still leave by the NIC's routes, which
//      transmit through the port as before;
//   4. per family, each route through the NIC is added through the bridge, then the NIC's is
//      deleted (`append`: the kernel keys an IPv4 route without its device, so the same route
//      through the bridge sits behind the NIC's until that one goes; IPv6 makes them siblings);
//   5. per family, the NIC's addresses are deleted (secondaries first: deleting a primary IPv4
//      address deletes its secondaries unless promote_secondaries is on).
// The kernel's own routes (proto kernel: prefix routes, fe80::/64) come and go with the addresses
// and links; IPv6 link-local addresses stay on each link (each derives its own).
// A step already done is not planned again, so a move interrupted by a crash completes on the
// next ADD, and a completed move plans nothing.
import { isKernelRoute, type UplinkAddress, type UplinkLink, type UplinkRoute, type UplinkState } from './state.ts';

/** The bridge's alias: marks a bridge that holds an uplink NIC for us (uninstall, doctor). */
export const UPLINK_ALIAS_PREFIX = 'bridgeway-uplink:';

export function uplinkAlias(nic: string): string {
  return `${UPLINK_ALIAS_PREFIX}${nic}`;
}

/** The NIC a bridge holds for us, from its alias; undefined for any other bridge. */
export function uplinkOf(bridge: Pick<UplinkLink, 'alias'>): string | undefined {
  return bridge.alias?.startsWith(UPLINK_ALIAS_PREFIX) ? bridge.alias.slice(UPLINK_ALIAS_PREFIX.length) : undefined;
}

export type UplinkStep =
  | { op: 'create-bridge'; bridge: string; mac: string; mtu: number; alias: string }
  | { op: 'delete-bridge'; bridge: string; mac: string; mtu: number; alias: string }
  | { op: 'set-mac'; link: string; mac: string; previous: string }
  | { op: 'set-alias'; link: string; alias: string; previous?: string }
  | { op: 'set-up'; link: string }
  | { op: 'set-down'; link: string }
  | { op: 'add-address'; link: string; address: UplinkAddress }
  | { op: 'delete-address'; link: string; address: UplinkAddress }
  | { op: 'enslave'; link: string; bridge: string }
  | { op: 'release'; link: string; bridge: string }
  | { op: 'add-route'; route: UplinkRoute }
  | { op: 'delete-route'; route: UplinkRoute };

/** What undoes a step that succeeded. */
export function inverse(step: UplinkStep): UplinkStep {
  switch (step.op) {
    case 'create-bridge': return { ...step, op: 'delete-bridge' };
    case 'delete-bridge': return { ...step, op: 'create-bridge' };
    case 'set-mac': return { op: 'set-mac', link: step.link, mac: step.previous, previous: step.mac };
    case 'set-alias': return { op: 'set-alias', link: step.link, alias: step.previous ?? '', previous: step.alias };
    case 'set-up': return { op: 'set-down', link: step.link };
    case 'set-down': return { op: 'set-up', link: step.link };
    case 'add-address': return { ...step, op: 'delete-address' };
    case 'delete-address': return { ...step, op: 'add-address' };
    case 'enslave': return { ...step, op: 'release' };
    case 'release': return { ...step, op: 'enslave' };
    case 'add-route': return { ...step, op: 'delete-route' };
    case 'delete-route': return { ...step, op: 'add-route' };
  }
}

/** Why the NIC cannot be moved at all (the plugin turns these into CNI errors). */
export class UplinkRefused extends Error {
  override readonly name = 'UplinkRefused';
}

const sameAddress = (a: UplinkAddress, b: UplinkAddress) => a.family === b.family && a.local === b.local && a.prefixlen === b.prefixlen;
const sameRoute = (a: UplinkRoute, b: UplinkRoute) =>
  a.family === b.family && a.dst === b.dst && a.gateway === b.gateway && (a.metric ?? 0) === (b.metric ?? 0);

function find(state: UplinkState, name: string): UplinkLink | undefined {
  return state.links.find((l) => l.name === name);
}

/** The routes through a link that a move carries: all but the kernel's own. */
export function movableRoutes(state: UplinkState, link: string): UplinkRoute[] {
  return state.routes.filter((r) => r.dev === link && !isKernelRoute(r));
}

/**
 * Addresses and routes from one link to another, steps 2, 4 and 5 of the header, around the
 * `between` steps (step 3: enslave or release): what both directions share.
 */
function transfer(state: UplinkState, from: UplinkLink, to: UplinkLink | undefined, toName: string, between: UplinkStep[], options: { handOverPrefixes?: boolean } = {}): UplinkStep[] {
  const steps: UplinkStep[] = [];
  const held = to?.addresses ?? [];
  for (const address of from.addresses) {
    if (!held.some((h) => sameAddress(h, address))) steps.push({ op: 'add-address', link: toName, address });
  }
  if (options.handOverPrefixes) {
    // Giving back: the bridge's prefix routes would keep sending the LAN's frames into a bridge
    // about to lose its port; without them the NIC's (added with its addresses) serve at once,
    // while frames the NIC still hands the bridge are still accepted there (its addresses stay).
    const prefixes = state.routes.filter((r) => r.dev === from.name && isKernelRoute(r) && (r.family === 4 ? from.addresses.some((a) => a.local === r.prefsrc) : !/^(fe80|ff)/.test(r.dst)));
    steps.push(...prefixes.map((route): UplinkStep => ({ op: 'delete-route', route })));
  }
  steps.push(...between);
  const routesThere = state.routes.filter((r) => r.dev === toName);
  for (const family of [4, 6] as const) {
    for (const route of movableRoutes(state, from.name).filter((r) => r.family === family)) {
      if (!routesThere.some((r) => sameRoute(r, route))) steps.push({ op: 'add-route', route: { ...route, dev: toName } });
      steps.push({ op: 'delete-route', route });
    }
  }
  for (const family of [4, 6] as const) {
    const own = from.addresses.filter((a) => a.family === family);
    for (const address of [...own.filter((a) => a.secondary), ...own.filter((a) => !a.secondary)]) {
      steps.push({ op: 'delete-address', link: from.name, address });
    }
  }
  return steps;
}

/** NIC -> bridge: the steps still to do (none when the move is complete). */
export function planMove(state: UplinkState, nicName: string, bridgeName: string): UplinkStep[] {
  const nic = find(state, nicName);
  if (!nic) throw new UplinkRefused(`uplink ${nicName} does not exist in the node's network namespace`);
  if (nic.kind === 'bridge') throw new UplinkRefused(`uplink ${nicName} is itself a bridge; name the physical NIC`);
  if (nic.master && nic.master !== bridgeName) throw new UplinkRefused(`uplink ${nicName} is already a port of ${nic.master}`);
  const bridge = find(state, bridgeName);
  if (bridge && bridge.kind !== 'bridge') throw new UplinkRefused(`${bridgeName} exists and is not a bridge (${bridge.kind ?? 'no kind'})`);
  const alias = uplinkAlias(nicName);
  const steps: UplinkStep[] = [];
  if (!bridge) {
    steps.push({ op: 'create-bridge', bridge: bridgeName, mac: nic.mac, mtu: nic.mtu, alias });
  } else {
    if (bridge.mac !== nic.mac) steps.push({ op: 'set-mac', link: bridgeName, mac: nic.mac, previous: bridge.mac });
    if (bridge.alias !== alias) steps.push({ op: 'set-alias', link: bridgeName, alias, ...(bridge.alias ? { previous: bridge.alias } : {}) });
  }
  if (!bridge?.up) steps.push({ op: 'set-up', link: bridgeName });
  const enslave: UplinkStep[] = nic.master === bridgeName ? [] : [{ op: 'enslave', link: nicName, bridge: bridgeName }];
  return [...steps, ...transfer(state, nic, bridge, bridgeName, enslave)];
}

/**
 * bridge -> NIC, for uninstall: the addresses and routes go back, the NIC leaves the bridge,
 * and the bridge is deleted unless ports that are not ours are on it (a VM's tap: deleting the
 * bridge would cut it off; the admin decides). None when there is nothing to give back.
 */
export function planRelease(state: UplinkState, bridgeName: string, options: { foreignPorts: string[] }): UplinkStep[] {
  const bridge = find(state, bridgeName);
  if (!bridge) return [];
  const nicName = uplinkOf(bridge);
  if (!nicName) throw new UplinkRefused(`${bridgeName} holds no uplink of ours (its alias is ${JSON.stringify(bridge.alias ?? '')})`);
  const nic = find(state, nicName);
  if (!nic) throw new UplinkRefused(`the uplink ${nicName} of ${bridgeName} no longer exists; its addresses stay on ${bridgeName}`);
  const release: UplinkStep[] = nic.master === bridgeName ? [{ op: 'release', link: nicName, bridge: bridgeName }] : [];
  const steps = transfer(state, bridge, nic, nicName, release, { handOverPrefixes: true });
  // Kept for the ports that are not ours, it is no longer ours either: its mark goes.
  if (options.foreignPorts.length === 0) steps.push({ op: 'delete-bridge', bridge: bridgeName, mac: bridge.mac, mtu: bridge.mtu, alias: bridge.alias ?? '' });
  else steps.push({ op: 'set-alias', link: bridgeName, alias: '', ...(bridge.alias ? { previous: bridge.alias } : {}) });
  return steps;
}
