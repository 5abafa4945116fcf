// Kernel settings the datapath depends on. ip_forward we set (without it nothing routes);
// the others we only check and report with the fix, since they affect more than us.
import fs from 'node:fs';
import { errnoCode, errorMessage } from '../../lib/errors.ts';

export interface HostFinding {
  setting: string;
  problem: string;
  fix: string;
}

function readSysctl(root: string, key: string): string | undefined {
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

export function checkHost(options: { iface: string; bridge: string; root?: string }): HostFinding[] {
  const root = options.root ?? '/proc/sys';
  return hostFindings((key) => readSysctl(root, key), options);
}

/** The sysctls hostFindings reads for these devices (the doctor gathers exactly these). */
export function hostSysctlKeys(devices: readonly string[]): string[] {
  return ['net.bridge.bridge-nf-call-iptables', 'net.ipv4.conf.all.rp_filter', ...devices.map((dev) => `net.ipv4.conf.${dev}.rp_filter`)];
}

/** Pure: what is wrong with the host settings, given a reader of sysctl values (undefined: absent). */
export function hostFindings(sysctl: (key: string) => string | undefined, options: { iface: string; bridge: string }): HostFinding[] {
  const findings: HostFinding[] = [];
  const bridgeNf = sysctl('net.bridge.bridge-nf-call-iptables');
  if (bridgeNf === undefined) {
    findings.push({
      setting: 'net.bridge.bridge-nf-call-iptables',
      problem: 'br_netfilter is not loaded: traffic between pods on one node bypasses iptables, so Services and NetworkPolicies miss it',
      fix: 'modprobe br_netfilter && echo br_netfilter > /etc/modules-load.d/br_netfilter.conf',
    });
  } else if (bridgeNf !== '1') {
    findings.push({ setting: 'net.bridge.bridge-nf-call-iptables', problem: 'is 0', fix: 'sysctl -w net.bridge.bridge-nf-call-iptables=1' });
  }
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
