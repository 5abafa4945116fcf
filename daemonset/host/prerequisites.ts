// The node prerequisites the pod network needs and an unprivileged agent cannot set (its
// /proc/sys is read-only): forwarding of each family in use and br_netfilter's switch of each.
// /readyz and /metrics read them when they are served, not from the last sync: an admin (or a
// sysctl.d reload, or a module unload) can turn one off at any moment, and the next sync may be a
// resync period away (30 s by default, configurable to hours). Reading on request costs two to
// four small /proc/sys reads per probe or scrape, and needs no timer and no state; a poll would
// cost the same reads on every tick whether anyone asks or not, and still lag by its period.
// The sync's host step still logs them, once per change (setup-step.ts).
import type { Metrics } from '../serve/metrics.ts';
import { BRIDGE_NF_SYSCTL, bridgeNetfilterApplies, bridgeNetfilterFindings, FORWARDING_SYSCTL, readSysctl, type HostFinding } from './checks.ts';

/** Pure: forwarding and br_netfilter for the families in use, as findings (empty: all in place). */
export function prerequisiteFindings(sysctl: (key: string) => string | undefined, families: readonly (4 | 6)[], bridgeType: 'linux' | 'ovs' = 'linux'): HostFinding[] {
  const forwarding: HostFinding[] = families.flatMap((family) => {
    const setting = FORWARDING_SYSCTL[family];
    const value = sysctl(setting);
    if (value === '1') return [];
    return [{ setting, problem: `${value ?? 'absent'}: the node does not route ${family === 6 ? 'IPv6 ' : ''}pod traffic`, fix: `sysctl -w ${setting}=1, persisted in /etc/sysctl.d/` }];
  });
  return [...forwarding, ...(bridgeNetfilterApplies(bridgeType) ? bridgeNetfilterFindings(sysctl, families) : [])];
}

/** Every sysctl prerequisiteFindings reads for these families. */
export function prerequisiteKeys(families: readonly (4 | 6)[], bridgeType: 'linux' | 'ovs' = 'linux'): string[] {
  return [...families.map((f) => FORWARDING_SYSCTL[f]), ...(bridgeNetfilterApplies(bridgeType) ? families.map((f) => BRIDGE_NF_SYSCTL[f]) : [])];
}

export class NodePrerequisites {
  private readonly deps: { families: readonly (4 | 6)[]; procSys: string; bridgeType: 'linux' | 'ovs' };
  private readonly gauge;

  constructor(deps: { metrics: Metrics; families: readonly (4 | 6)[]; procSys?: string; bridgeType?: 'linux' | 'ovs' }) {
    this.deps = { families: deps.families, procSys: deps.procSys ?? '/proc/sys', bridgeType: deps.bridgeType ?? 'linux' };
    this.gauge = deps.metrics.gauge('bridgeway_node_sysctl_ok', '1 when this node prerequisite is as the pod network needs it, 0 when off or absent (read when served).');
    deps.metrics.collect(() => void this.check());
  }

  /** Reads the sysctls now; updates bridgeway_node_sysctl_ok; returns what is wrong. */
  check(): HostFinding[] {
    const { families, procSys, bridgeType } = this.deps;
    const findings = prerequisiteFindings((key) => readSysctl(procSys, key), families, bridgeType);
    const wrong = new Set(findings.map((f) => f.setting));
    for (const key of prerequisiteKeys(families, bridgeType)) this.gauge.set(wrong.has(key) ? 0 : 1, { sysctl: key });
    return findings;
  }

  /** /readyz's lines: one per prerequisite that is off, with its fix; none when all are in place. */
  detail(): string[] {
    return this.check().map((f) => `node prerequisite ${f.setting}: ${f.problem}  fix: ${f.fix}`);
  }
}
