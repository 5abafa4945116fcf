// Kernel settings the datapath depends on. ip_forward we set (without it nothing routes);
// the others we only check and report with the fix, since they affect more than us.
import fs from 'node:fs';
import { errnoCode, errorMessage } from '../../lib/errors.ts';

export interface HostFinding {
  setting: string;
  problem: string;
  fix: string;
}

/** A dotted key's value under root (/proc/sys); undefined when it cannot be read (absent). */
export function readSysctl(root: string, key: string): string | undefined {
  try {
    return fs.readFileSync(`${root}/${key.replaceAll('.', '/')}`, 'utf8').trim();
  } catch {
    return undefined;
  }
}

/** The forwarding switch of each family. */
export const FORWARDING_SYSCTL = { 4: 'net.ipv4.ip_forward', 6: 'net.ipv6.conf.all.forwarding' } as const;

/**
 * Ensures forwarding for a family (IPv4 unless told); returns true when it had to be turned on.
 * IPv6: conf.all.forwarding=1 also makes interfaces with accept_ra=1 ignore router
 * advertisements (a node that learns its IPv6 default route by RA needs accept_ra=2 on that link).
 */
export function ensureIpForward(root = '/proc/sys', family: 4 | 6 = 4): boolean {
  const key = FORWARDING_SYSCTL[family];
  if (readSysctl(root, key) === '1') return false;
  try {
    fs.writeFileSync(`${root}/${key.replaceAll('.', '/')}`, '1');
  } catch (error) {
    // An unprivileged container has /proc/sys read-only: forwarding is then a node prerequisite
    // (as kubeadm's preflight and flannel/kindnet treat it), which `bridgeway-agent doctor` checks.
    throw new Error(`${key} is 0 and cannot be set from here (${errnoCode(error) ?? errorMessage(error)}): ` +
      `set it on the node: sysctl -w ${key}=1, persisted in /etc/sysctl.d/`, { cause: error });
  }
  return true;
}

export function checkHost(options: { iface: string; bridge: string; root?: string; families?: readonly (4 | 6)[]; bridgeType?: 'linux' | 'ovs' }): HostFinding[] {
  const root = options.root ?? '/proc/sys';
  return hostFindings((key) => readSysctl(root, key), options);
}

/**
 * br_netfilter's switch per family: whether frames the bridge forwards between two of its ports
 * (pod to pod on one node) pass the ip(6)tables hooks. Node prerequisites the unprivileged agent
 * cannot set (/proc/sys is read-only in its container). The keys exist only while the
 * br_netfilter module is loaded, and are per network namespace (kernel >= 5.3): what a process
 * reads is its own namespace's, the node's for the agent (hostNetwork).
 */
export const BRIDGE_NF_SYSCTL = { 4: 'net.bridge.bridge-nf-call-iptables', 6: 'net.bridge.bridge-nf-call-ip6tables' } as const;

/** The sysctls hostFindings reads for these devices and families (the doctor gathers exactly these). */
export function hostSysctlKeys(devices: readonly string[], families: readonly (4 | 6)[] = [4]): string[] {
  return [...families.map((family) => BRIDGE_NF_SYSCTL[family]), 'net.ipv4.conf.all.rp_filter', ...devices.map((dev) => `net.ipv4.conf.${dev}.rp_filter`)];
}

const PERSIST = 'persisted in /etc/sysctl.d/';

/**
 * Pure: what is wrong with br_netfilter for the families in use. Without it a ClusterIP Service
 * whose client and backend pods share a node gets no answer: the request is routed (client ->
 * gateway) and DNATed by kube-proxy, but the backend's reply goes straight back across the bridge
 * to the client, never reaching conntrack, so it is not un-DNATed and the client drops a reply
 * from an address it never called. The reference bridge plugin and flannel have the same need.
 * kubeadm's preflight checked it until v1.30, which leaves it to the network plugin
 * (kubernetes/kubernetes#123464): to us, so the agent reports it and the doctor fails it.
 */
export function bridgeNetfilterFindings(sysctl: (key: string) => string | undefined, families: readonly (4 | 6)[] = [4]): HostFinding[] {
  const findings: HostFinding[] = [];
  for (const family of families) {
    const setting = BRIDGE_NF_SYSCTL[family];
    const value = sysctl(setting);
    if (value === '1') continue;
    const tool = family === 6 ? 'ip6tables' : 'iptables';
    const effect = `pod-to-pod traffic on this node's bridge bypasses ${tool}: a Service whose client and backend pods share this node gets no answer (and NetworkPolicies miss that traffic)`;
    findings.push(value === undefined
      ? { setting, problem: `absent: br_netfilter is not loaded, so ${effect}`, fix: `modprobe br_netfilter && echo br_netfilter > /etc/modules-load.d/br_netfilter.conf; sysctl -w ${setting}=1, ${PERSIST}` }
      : { setting, problem: `${value}: ${effect}`, fix: `sysctl -w ${setting}=1, ${PERSIST}` });
  }
  return findings;
}

/**
 * br_netfilter hooks the Linux bridge only: Open vSwitch switches frames itself and never passes
 * them to ip(6)tables, whatever the switch says. On OVS the same-node Service's reply is brought
 * back through the node by the agent's own masquerade of DNATed pod-to-local-pod traffic instead
 * (iptables/plan.ts), so the switch is neither needed nor a fix there.
 */
export function bridgeNetfilterApplies(bridgeType: 'linux' | 'ovs' = 'linux'): boolean {
  return bridgeType === 'linux';
}

/** Pure: what is wrong with the host settings, given a reader of sysctl values (undefined: absent). */
export function hostFindings(sysctl: (key: string) => string | undefined, options: { iface: string; bridge: string; families?: readonly (4 | 6)[]; bridgeType?: 'linux' | 'ovs' }): HostFinding[] {
  const findings: HostFinding[] = bridgeNetfilterApplies(options.bridgeType) ? bridgeNetfilterFindings(sysctl, options.families) : [];
  // The kernel applies max(conf.all, conf.<if>): strict (1) drops pod traffic that arrives on eth1
  // when the reverse path would leave another interface (multi-NIC nodes).
  const all = Number(sysctl('net.ipv4.conf.all.rp_filter') ?? '0');
  for (const dev of [options.iface, options.bridge]) {
    const own = sysctl(`net.ipv4.conf.${dev}.rp_filter`);
    if (own === undefined) continue;
    if (Math.max(all, Number(own)) === 1) {
      findings.push({
        setting: `net.ipv4.conf.${dev}.rp_filter`,
        problem: 'strict reverse-path filtering can drop pod traffic on multi-NIC nodes',
        fix: `sysctl -w net.ipv4.conf.all.rp_filter=2 net.ipv4.conf.${dev}.rp_filter=2`,
      });
    }
  }
  return findings;
}
