// The keys of `"mode": "macvlan"` (issue 20): the pod's interface is a macvlan of a NIC of the
// node instead of a veth on the node's bridge. Read here, apart from netconf.ts, which only asks
// for them when the mode says so. What depends on the node (does the master exist, is the MTU
// within its own) is checked at ADD against the node as it is (master.ts).
import type { MacvlanMode } from '../../lib/kernel/link.ts';
import { Fields, invalid, unsupported } from '../config/fields.ts';

export const MACVLAN_MODES: readonly MacvlanMode[] = ['bridge', 'private', 'vepa', 'passthru'];

export interface MacvlanConf {
  /** The NIC the pods' macvlans hang off; undefined: the interface of the node's default route, read at ADD. */
  master?: string;
  /** The kernel's mode of each pod's macvlan: `bridge` (default), `private`, `vepa`, `passthru`. */
  mode: MacvlanMode;
  /** The pod interface's MTU when the config gives one; undefined: the master's own. */
  mtu?: number;
  /**
   * The node's own macvlan on the master, so the node reaches its pods: the kernel never hands a
   * frame between a macvlan and its master (cni/macvlan/shim.ts).
   */
  hostShim: boolean;
}

const IFNAME = /^[^\s/:]{1,15}$/;

export function parseMacvlanConf(f: Fields, raw: Record<string, unknown>): MacvlanConf {
  const master = f.string('master');
  if (master !== undefined && (!IFNAME.test(master) || master === '.' || master === '..')) {
    throw invalid(`"master" must be an interface name (1-15 characters, no "/", ":" or spaces), got ${JSON.stringify(master)}`);
  }
  const mode = f.string('macvlanMode', 'bridge')!;
  if (!(MACVLAN_MODES as readonly string[]).includes(mode)) {
    throw invalid(`"macvlanMode" must be one of ${MACVLAN_MODES.join(', ')}, got ${JSON.stringify(mode)}`);
  }
  const hostShim = f.bool('hostShim', false);
  // The shim is a bridge-mode sibling of the pods: the kernel switches frames between bridge-mode
  // macvlans (and vepa ones, through a hairpinning switch), never to a private one, and a
  // passthru macvlan allows no sibling at all.
  if (hostShim && (mode === 'private' || mode === 'passthru')) {
    throw unsupported('hostShim', raw.hostShim, `the node's shim cannot reach ${mode} macvlans (${mode === 'private' ? 'private ones never talk to a sibling' : 'a passthru macvlan takes the NIC alone'}); use "macvlanMode": "bridge"`);
  }
  // The anti-spoofing table guards bridge ports; a macvlan is no port of ours.
  if (raw.antiSpoofing === true || raw.antiSpoofing === 'true') {
    throw unsupported('antiSpoofing', raw.antiSpoofing, 'the anti-spoofing table filters the pods\' ports on the node\'s bridge, and a macvlan pod has none: remove the key');
  }
  return {
    ...(master !== undefined ? { master } : {}),
    mode: mode as MacvlanMode,
    ...(f.has('mtu') ? { mtu: f.int('mtu', 1500, 68, 65535) } : {}),
    hostShim,
  };
}
