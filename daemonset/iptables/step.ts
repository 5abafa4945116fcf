// Step: our iptables chains, in the backend kube-proxy uses, rewritten only when they differ;
// with IPv6 in the cluster the same chains in ip6tables, in the same backend.
import { formatCidr, type IpCidr, type IpFamily } from '../../lib/cidr.ts';
import { errorMessage } from '../../lib/errors.ts';
import type { Runner } from '../../lib/exec.ts';
import { backendFor, detectBackend, type IptablesBackend, type IptablesMode } from '../../lib/iptables/backend.ts';
import { parseIptablesSave } from '../../lib/iptables/save.ts';
import type { Logger } from '../../lib/log.ts';
import type { SyncStep } from '../loop/step.ts';
import type { NodeSync } from '../loop/sync.ts';
import type { Metrics } from '../serve/metrics.ts';
import { backendDecidingFamily, planIptables, restorePayload } from './plan.ts';

export interface IptablesOutcome {
  mode: IptablesMode;
  /** Per family: whether its chains had to be (re)written. */
  written: Partial<Record<IpFamily, boolean>>;
}

export class IptablesSync implements SyncStep<NodeSync, 'iptables'> {
  readonly name = 'iptables';
  private readonly deps: { run: Runner; log: Logger; clusterCIDRs: readonly IpCidr[]; forced?: IptablesMode };
  private readonly writes;
  /** Probed once: neither changes while the agent runs. */
  private backends: Partial<Record<IpFamily, IptablesBackend>> | undefined;
  private mode: IptablesMode | undefined;
  private readonly randomFully: Partial<Record<IpFamily, boolean>> = {};

  constructor(deps: { run: Runner; log: Logger; metrics: Metrics; clusterCIDRs: readonly IpCidr[]; forced?: IptablesMode }) {
    this.deps = deps;
    this.writes = {
      all: deps.metrics.counter('bridgeway_iptables_restores_total', 'Times our chains had to be (re)written.'),
      family: deps.metrics.counter('bridgeway_family_iptables_restores_total', 'Times our chains had to be (re)written, per IP family (ip6tables for ipv6).'),
    };
  }

  async run(sync: NodeSync): Promise<void> {
    sync.found.iptablesMode = (await this.sync(sync.podCIDRs)).mode;
  }

  /** `podCIDRs`: our own podCIDR of each family in the cluster CIDR. */
  async sync(podCIDRs: readonly IpCidr[]): Promise<IptablesOutcome> {
    const { run, log, clusterCIDRs } = this.deps;
    const backends = await this.backendsOnce();
    const written: IptablesOutcome['written'] = {};
    for (const clusterCIDR of clusterCIDRs) {
      const family = clusterCIDR.family;
      const podCIDR = podCIDRs.find((c) => c.family === family);
      const backend = backends[family];
      if (!podCIDR || !backend) continue;
      if (this.randomFully[family] === undefined) {
        const help = await run([backend.iptables, '-j', 'MASQUERADE', '--help']).catch((e: unknown) => ({ stdout: errorMessage(e) }));
        this.randomFully[family] = help.stdout.includes('random-fully');
      }
      const specs = planIptables({ clusterCIDR, podCIDR, randomFully: this.randomFully[family]! });
      const actual = parseIptablesSave((await run([backend.save])).stdout);
      const payload = restorePayload(specs, actual);
      written[family] = payload !== undefined;
      if (!payload) continue;
      await run([backend.restore, '--noflush', '-w', '5'], { input: payload });
      this.writes.all.inc();
      this.writes.family.inc({ family: `ipv${family}` });
      log.info({ chains: specs.map((s) => s.chain), family: `ipv${family}`, cluster: formatCidr(clusterCIDR) }, `${family === 6 ? 'ip6tables' : 'iptables'} chains written`);
    }
    return { mode: this.mode!, written };
  }

  /** One mode for both families (see backendDecidingFamily). */
  private async backendsOnce(): Promise<Partial<Record<IpFamily, IptablesBackend>>> {
    if (this.backends) return this.backends;
    const { run, log, clusterCIDRs, forced } = this.deps;
    const families = clusterCIDRs.map((c) => c.family);
    const decided = await detectBackend(run, { forced, family: backendDecidingFamily(families) });
    log.info({ mode: decided.mode, why: decided.reason }, `using iptables-${decided.mode}`);
    this.mode = decided.mode;
    this.backends = Object.fromEntries(families.map((family) => [family, backendFor(decided.mode, decided.reason, family)]));
    return this.backends;
  }
}
