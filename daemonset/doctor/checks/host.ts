// Pure: the node's own settings the datapath depends on: forwarding, the interface joining the
// nodes, its MTU against the pods', reverse-path filtering, br_netfilter, NetworkManager.
import { formatCidr } from '../../../lib/cidr.ts';
import { BRIDGE_NF_SYSCTL, bridgeNetfilterApplies, bridgeNetfilterFindings, FORWARDING_SYSCTL, hostFindings } from '../../host/checks.ts';
import { fail, ok, warn, type Finding } from '../finding.ts';
import type { CheckContext } from './context.ts';
import { HOST_VETH_PREFIX } from '../../../lib/names.ts';

const PERSIST = '(persist it in /etc/sysctl.d/)';

/** What the agent's host checks find in the gathered sysctls, for the interface it would choose. */
function agentHostFindings(facts: CheckContext['facts'], iface: string | undefined) {
  return hostFindings((key) => facts.sysctls[key], { iface: iface ?? facts.settings.iface, bridge: facts.settings.bridge, bridgeType: facts.settings.bridgeType });
}

/** Forwarding per address family in use (the families of --cluster-cidr). */
export function checkForwarding({ facts }: CheckContext): Finding[] {
  const families = facts.settings.clusterCIDRs.map((c) => c.family);
  return (families.length ? families : [4 as const]).map((family) => {
    const key = FORWARDING_SYSCTL[family];
    const value = facts.sysctls[key];
    if (value === '1') return ok('sysctl', key, '1');
    // The agent sets it when it can; an unprivileged agent cannot (/proc/sys is read-only in its
    // container), which makes it a node prerequisite, as kubeadm's preflight treats it.
    const what = family === 6 ? 'IPv6 pod traffic' : 'pod traffic';
    return fail('sysctl', key, `${value ?? 'unreadable'}: the node does not route ${what}`, `sysctl -w ${key}=1 ${PERSIST}`);
  });
}

export function checkInterface({ facts, iface }: CheckContext): Finding[] {
  const { settings } = facts;
  const wanted = settings.ifaceCidr ? `interface with an address in ${formatCidr(settings.ifaceCidr)}` : settings.iface;
  if (!iface) {
    const have = facts.links.map((l) => l.name).join(', ');
    return [fail('interface', wanted, `not found (have: ${have || 'none'})`, 'set --iface (BRIDGEWAY_IFACE) or --iface-cidr (BRIDGEWAY_IFACE_CIDR) to the interface on the nodes\' shared segment')];
  }
  const { link, addresses } = iface;
  const address = addresses[4];
  const findings: Finding[] = [];
  findings.push(link.up ? ok('interface', link.name, 'up') : fail('interface', link.name, 'down: no route to any peer', `ip link set ${link.name} up`));
  const families = settings.clusterCIDRs.map((c) => c.family);
  if (families.includes(4) || families.length === 0) {
    findings.push(address
      ? ok('interface', `${link.name} address`, formatCidr(address))
      : fail('interface', `${link.name} address`, 'no IPv4 address: peers cannot route to this node', `ip addr add <this node's address>/<prefix> dev ${link.name}`));
  }
  if (families.includes(6)) {
    // The agent publishes (and peers route IPv6 via) this address.
    const v6 = addresses[6];
    findings.push(v6
      ? ok('interface', `${link.name} IPv6 address`, formatCidr(v6))
      : fail('interface', `${link.name} IPv6 address`, 'no global IPv6 address: peers cannot route this node\'s IPv6 pods', `ip addr add <this node's IPv6 address>/64 dev ${link.name}`));
  }
  return findings;
}

/** The pods' MTU (the conflist's) must not exceed the interface's: no encapsulation, no fragmenting at the bridge. */
export function checkMtu({ iface, conflist }: CheckContext): Finding[] {
  if (!iface || !conflist) return [];
  const podMtu = conflist.mtu ?? 1500;
  const object = `${iface.link.name} mtu ${iface.link.mtu} vs conflist mtu ${podMtu}`;
  const fix = `restart the agent: it writes ${iface.link.name}'s MTU into the conflist (pods started before keep theirs until recreated)`;
  if (podMtu > iface.link.mtu) return [fail('mtu', object, `pods send packets larger than ${iface.link.name} carries: large transfers between nodes stall`, fix)];
  if (podMtu < iface.link.mtu) return [warn('mtu', object, 'pods use a smaller MTU than the interface: works, wastes throughput', fix)];
  return [ok('mtu', object, 'equal')];
}

/**
 * The kernel applies max(conf.all, conf.<if>). Strict (1) drops a pod packet arriving on eth1
 * whenever the route back to its source leaves by another interface (multi-NIC nodes, or a
 * missing route): loose (2) keeps the protection without that failure.
 */
export function checkRpFilter({ facts, iface }: CheckContext): Finding[] {
  const all = facts.sysctls['net.ipv4.conf.all.rp_filter'];
  const devices = [iface?.link.name, facts.settings.bridge].filter((d): d is string => d !== undefined);
  // The agent's own verdict (host/checks.ts: the kernel applies the max of all and the device's).
  const strict = new Set(agentHostFindings(facts, iface?.link.name).map((f) => f.setting));
  const findings: Finding[] = [];
  const fixFor = (dev: string) => `sysctl -w net.ipv4.conf.all.rp_filter=2 net.ipv4.conf.${dev}.rp_filter=2 ${PERSIST}`;
  const key = 'net.ipv4.conf.all.rp_filter';
  findings.push(all === '1'
    ? warn('sysctl', key, '1 (strict, applies to every interface): pod traffic from other nodes is dropped when its reverse path is not eth1', fixFor(devices[0] ?? 'eth1'))
    : ok('sysctl', key, all ?? 'unreadable'));
  for (const dev of devices) {
    const own = facts.sysctls[`net.ipv4.conf.${dev}.rp_filter`];
    if (own === undefined) continue; // the bridge exists only once a pod has started
    const name = `net.ipv4.conf.${dev}.rp_filter`;
    findings.push(own === '1' && strict.has(name)
      ? warn('sysctl', name, '1 (strict): pod traffic is dropped when its reverse path leaves by another interface', fixFor(dev))
      : ok('sysctl', name, all === '1' ? `${own} (but all=1 wins)` : own));
  }
  return findings;
}

/**
 * br_netfilter's switch for each family in use (host/checks.ts says why a same-node Service needs
 * it): a FAIL, since part of the cluster's traffic gets no answer, and since kubeadm v1.30 no
 * preflight checks it any more.
 */
export function checkBridgeNetfilter({ facts }: CheckContext): Finding[] {
  const families = facts.settings.clusterCIDRs.map((c) => c.family);
  const inUse = families.length ? families : [4 as const];
  if (!bridgeNetfilterApplies(facts.settings.bridgeType)) {
    return inUse.map((family) => ok('sysctl', BRIDGE_NF_SYSCTL[family], `not used: the pods' switch is Open vSwitch, whose frames never pass br_netfilter (the agent masquerades a same-node Service's DNATed traffic instead)`));
  }
  const wrong = new Map(bridgeNetfilterFindings((key) => facts.sysctls[key], inUse).map((f) => [f.setting, f]));
  return inUse.map((family) => {
    const key = BRIDGE_NF_SYSCTL[family];
    const finding = wrong.get(key);
    return finding ? fail('sysctl', key, finding.problem, finding.fix) : ok('sysctl', key, '1');
  });
}

const NM_FIX = (bridge: string) =>
  `printf '[keyfile]\\nunmanaged-devices=interface-name:${bridge};interface-name:${HOST_VETH_PREFIX}*\\n' > /etc/NetworkManager/conf.d/bridgeway.conf && nmcli general reload`;

/** NetworkManager taking over cni0 or a pod's veth removes its addresses or its bridge port. */
export function checkNetworkManager({ facts }: CheckContext): Finding[] {
  const nm = facts.networkManager;
  const bridge = facts.settings.bridge;
  if (nm.hidden) return [ok('networkmanager', 'NetworkManager', 'not visible from inside a pod (no host /run): run bridgeway-agent doctor on the node to check it')];
  if (!nm.running) return [ok('networkmanager', 'NetworkManager', 'not running on this node')];
  if (nm.error) return [warn('networkmanager', 'NetworkManager', `running, but its devices could not be read: ${nm.error}`, NM_FIX(bridge))];
  if (nm.via === 'nmcli') {
    const managed = Object.entries(nm.devices ?? {}).filter(([dev, state]) => (dev === bridge || dev.startsWith(HOST_VETH_PREFIX)) && state !== 'unmanaged');
    if (managed.length) return [warn('networkmanager', managed.map(([d]) => d).join(', '), `managed by NetworkManager (${managed.map(([d, s]) => `${d}: ${s}`).join(', ')})`, NM_FIX(bridge))];
    return [ok('networkmanager', `${bridge}, ${HOST_VETH_PREFIX}*`, 'unmanaged by NetworkManager')];
  }
  const covers = (pattern: string) => (nm.unmanaged ?? []).some((v) => v.split(/[;,]/).map((s) => s.trim()).includes(pattern));
  const missing = [`interface-name:${bridge}`, `interface-name:${HOST_VETH_PREFIX}*`].filter((p) => !covers(p));
  if (missing.length) return [warn('networkmanager', `${bridge}, ${HOST_VETH_PREFIX}*`, `NetworkManager runs and its configuration does not leave ${missing.join(', ')} unmanaged`, NM_FIX(bridge))];
  return [ok('networkmanager', `${bridge}, ${HOST_VETH_PREFIX}*`, 'unmanaged in NetworkManager\'s configuration')];
}
