// Step: our iptables chains, in the backend kube-proxy uses, rewritten only when they differ.
import type { Ipv4Cidr } from '../../lib/cidr.ts';
import { errorMessage } from '../../lib/errors.ts';
import type { Runner } from '../../lib/exec.ts';
import { detectBackend, type IptablesBackend, type IptablesMode } from '../../lib/iptables/backend.ts';
import { parseIptablesSave } from '../../lib/iptables/save.ts';
import type { Logger } from '../../lib/log.ts';
import type { Metrics } from '../metrics.ts';
import { planIptables, restorePayload } from '../plan-iptables.ts';

export class IptablesSync {
  private readonly deps: { run: Runner; log: Logger; clusterCIDR: Ipv4Cidr; forced?: IptablesMode };
  private readonly writes;
  /** Probed once: neither changes while the agent runs. */
  private backend: IptablesBackend | undefined;
  private randomFully: boolean | undefined;

  constructor(deps: { run: Runner; log: Logger; metrics: Metrics; clusterCIDR: Ipv4Cidr; forced?: IptablesMode }) {
    this.deps = deps;
    this.writes = deps.metrics.counter('bridgeway_iptables_restores_total', 'Times our chains had to be (re)written.');
  }

  async sync(podCIDR: Ipv4Cidr): Promise<{ written: boolean; mode: IptablesMode }> {
    const { run, log, clusterCIDR } = this.deps;
    if (!this.backend) {
      this.backend = await detectBackend(run, { forced: this.deps.forced });
      log.info({ mode: this.backend.mode, why: this.backend.reason }, `using iptables-${this.backend.mode}`);
    }
    const backend = this.backend;
    if (this.randomFully === undefined) {
      const help = await run([backend.iptables, '-j', 'MASQUERADE', '--help']).catch((e: unknown) => ({ stdout: errorMessage(e) }));
      this.randomFully = help.stdout.includes('random-fully');
    }
    const specs = planIptables({ clusterCIDR, podCIDR, randomFully: this.randomFully });
    const actual = parseIptablesSave((await run([backend.save])).stdout);
    const payload = restorePayload(specs, actual);
    if (!payload) return { written: false, mode: backend.mode };
    await run([backend.restore, '--noflush', '-w', '5'], { input: payload });
    this.writes.inc();
    log.info({ chains: specs.map((s) => s.chain) }, 'iptables chains written');
    return { written: true, mode: backend.mode };
  }
}
