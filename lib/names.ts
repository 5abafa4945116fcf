// The contract between the plugin, the agent, doctor, uninstall and the tests: the names under
// which bridgeway's objects exist on a node and in the API. Rule 6 of the design (mark what we
// own) only holds if every reader and writer agrees on these, so each is spelled once, here, as
// containernetworking/plugins' pkg/utils owns its chain and comment names. Changing one is a
// migration: nodes keep objects made under the old name until uninstall removes them.
import { sha256Hex } from './sha256.ts';

/** The plugin's `type` in a conflist, and so its file name in the runtime's CNI bin directory. */
export const PLUGIN_TYPE = 'bridgeway';
/** The built-in allocator's `ipam.type` (the default when the key is absent). */
export const BUILTIN_IPAM_TYPE = 'bridgeway';
/** The network the agent's conflist declares; also its IPAM directory under the data dir. */
export const NETWORK_NAME = 'bridgeway';
/** Sorted first among the runtime's configs, which is the one it uses. */
export const CONFLIST_NAME = '10-bridgeway.conflist';
/** The pods' bridge when the conflist (or the agent's --bridge) names none. */
export const DEFAULT_BRIDGE = 'cni0';

/**
 * The routing protocol number on every route the agent makes (`ip route ... proto 77`), as
 * `ip -j` prints it: the diff, uninstall and doctor touch only routes carrying it.
 */
export const ROUTE_PROTO = '77';

/** The agent's own iptables chains, and the comments on the rules that jump to them. */
export const FORWARD_CHAIN = 'BRIDGEWAY-FORWARD';
export const POSTROUTING_CHAIN = 'BRIDGEWAY-POSTRTG';
export const FORWARD_HOOK_COMMENT = 'bridgeway: pod forwarding';
export const POSTROUTING_HOOK_COMMENT = 'bridgeway: masquerade';

/**
 * The plugin's own nftables table (family bridge) that keeps pods from spoofing their neighbours
 * (lib/antispoof/ruleset.ts): uninstall deletes it, doctor checks it, nothing else is ours there.
 */
export const ANTISPOOF_TABLE = 'bridgeway';

/**
 * The agent's own nftables table (family inet) that enforces NetworkPolicy
 * (daemonset/policy/): its sets, maps and chains are all compiled; nothing else is ours there.
 */
export const POLICY_TABLE = 'bridgeway_policy';

/**
 * What a network config without an `"antiSpoofing"` key gets: on. The plugin's netconf takes its
 * default from here and the doctor expects the table by it, so the two cannot disagree.
 */
export const ANTI_SPOOFING_DEFAULT: boolean = true;

/** The Node annotations in which each agent publishes its eth1 address, per family. */
export const ETH1_ANNOTATION = 'bridgeway.io/eth1-ip';
export const ETH1_IPV6_ANNOTATION = 'bridgeway.io/eth1-ipv6';
export const ETH1_ANNOTATIONS: Readonly<Record<4 | 6, string>> = { 4: ETH1_ANNOTATION, 6: ETH1_IPV6_ANNOTATION };

/**
 * The reasons of the NetworkUnavailable condition the agent sets on its Node (False: up, True:
 * the runtime cannot use the conflist). A condition with another reason is someone else's, and
 * uninstall leaves it alone.
 */
export const NETWORK_UNAVAILABLE_REASONS = { up: 'BridgewayIsUp', down: 'BridgewayIsDown' } as const;

/** The reason of the Warning event on a Node whose runtime cannot use the conflist (filter on it). */
export const MISMATCH_EVENT_REASON = 'CNIVersionUnsupported';

/** Every host veth's name starts with this (NetworkManager's unmanaged-devices pattern uses it). */
export const HOST_VETH_PREFIX = 'bw';
const ALIAS_PREFIX = 'bridgeway';
/** IFALIASZ is 256 bytes including the NUL. */
export const MAX_ALIAS_LENGTH = 255;

/** The hash the host veth's name and MAC derive from, so DEL and GC need no state to find it. */
export function attachmentHash(containerId: string, ifname: string): string {
  return sha256Hex(`${containerId}/${ifname}`); // not node:crypto: lib/sha256.ts says why
}

/** "bw" + 12 hex digits of the attachment's hash: 14 characters, within IFNAMSIZ. */
export function hostVethName(containerId: string, ifname: string): string {
  return HOST_VETH_PREFIX + attachmentHash(containerId, ifname).slice(0, 12);
}

/** Whether a name is one hostVethName() makes: the prefix and 12 hex digits of the hash, nothing else. */
export function isHostVethName(name: string): boolean {
  return name.length === HOST_VETH_PREFIX.length + 12 && name.startsWith(HOST_VETH_PREFIX) && /^[0-9a-f]{12}$/.test(name.slice(HOST_VETH_PREFIX.length));
}

/** The host veth's ifalias. Names and IDs are validated to exclude ':' and whitespace. */
export function hostVethAlias(network: string, containerId: string, ifname: string): string {
  return `${ALIAS_PREFIX}:${network}:${containerId}:${ifname}`;
}

export interface VethOwner {
  network: string;
  containerId: string;
  ifname: string;
}

/** The owner a host veth's alias names, or undefined when it is not one of our aliases. */
export function parseHostVethAlias(alias: string | undefined): VethOwner | undefined {
  const parts = alias?.split(':');
  if (parts?.length !== 4 || parts[0] !== ALIAS_PREFIX || parts.slice(1).some((p) => p === '')) return undefined;
  const [, network, containerId, ifname] = parts as [string, string, string, string];
  return { network, containerId, ifname };
}

/**
 * The node's own macvlan on a master (issue 20's `"hostShim": true`): "bwshim" + 8 hex digits of
 * sha256(master), stable, so every ADD on that master finds the one shim the first made, and the
 * doctor knows it. Not a host veth's name (isHostVethName is false for it), under NetworkManager's
 * bw* unmanaged pattern.
 */
export function hostShimName(master: string): string {
  return `${HOST_VETH_PREFIX}shim${sha256Hex(`macvlan-shim/${master}`).slice(0, 8)}`;
}

/**
 * The external_ids of a pod's Port and Interface rows on an Open vSwitch bridge (issue 21): DEL,
 * GC (and later uninstall and doctor) touch only ports whose ids say they are this network's
 * attachment; a port without them (libvirt's VM ports, an admin's) is never ours. The pod's
 * namespace and name let tools find a pod's port (`ovs-vsctl find Port external_ids:...`).
 */
export const OVS_IDS = {
  network: 'bridgeway-network',
  containerId: 'bridgeway-container-id',
  ifname: 'bridgeway-ifname',
  podNamespace: 'k8s-pod-namespace',
  podName: 'k8s-pod-name',
  /** On the Interface: the pod's MAC (the key OVS's own integrations use for it). */
  attachedMac: 'attached-mac',
  /**
   * On the Interface of a guarded port only (antiSpoofing on): the pod's addresses, comma-separated.
   * With attached-mac, what the agent needs to put the port's guard flows back after an
   * ovs-vswitchd restart, which loses every flow (lib/openflow/port-guard.ts).
   */
  antispoofIps: 'bridgeway-antispoof-ips',
} as const;
