// Steps: the host settings the datapath needs (ip_forward set, the rest checked and reported
// once per change), and the plugin executable installed before any conflist names it.
import path from 'node:path';
import type { Logger } from '../../lib/log.ts';
import { OncePerChange } from '../loop/once-per-change.ts';
import type { SyncStep } from '../loop/step.ts';
import type { NodeSync } from '../loop/sync.ts';
import { checkHost, ensureIpForward, FORWARDING_SYSCTL } from './checks.ts';
import { BinaryInstaller, type WriteOutcome } from './install.ts';
import { PLUGIN_TYPE } from '../../lib/names.ts';

export class HostSettings implements SyncStep<NodeSync, 'sysctls'> {
  readonly name = 'sysctls';
  private readonly reported = new OncePerChange();
  private readonly deps: { log: Logger; bridge: string; procSys?: string; families?: readonly (4 | 6)[]; bridgeType?: 'linux' | 'ovs' };

  constructor(deps: { log: Logger; bridge: string; procSys?: string; families?: readonly (4 | 6)[]; bridgeType?: 'linux' | 'ovs' }) {
    this.deps = deps;
  }

  run(sync: NodeSync): void {
    this.ensure(sync.iface.name);
  }

  /** Returns what it found wrong (already logged when new). */
  ensure(ifaceName: string): { ipForwardEnabled: boolean; findings: ReturnType<typeof checkHost> } {
    const { log, bridge, procSys } = this.deps;
    let ipForwardEnabled = false;
    for (const family of this.deps.families ?? [4]) {
      if (!ensureIpForward(procSys, family)) continue;
      ipForwardEnabled = true;
      log.info(`enabled ${FORWARDING_SYSCTL[family]}`);
    }
    const findings = checkHost({ iface: ifaceName, bridge, root: procSys, families: this.deps.families, bridgeType: this.deps.bridgeType });
    this.reported.whenChanged(JSON.stringify(findings), () => {
      for (const finding of findings) log.warn(finding, `host setting ${finding.setting}: ${finding.problem}`);
    });
    return { ipForwardEnabled, findings };
  }
}

export class PluginInstall implements SyncStep<NodeSync, 'install'> {
  readonly name = 'install';
  private readonly installer: BinaryInstaller;
  private readonly deps: { log: Logger; cniBinDir: string };

  constructor(deps: { log: Logger; pluginBinary: string; cniBinDir: string }) {
    this.deps = deps;
    this.installer = new BinaryInstaller(deps.pluginBinary, path.join(deps.cniBinDir, PLUGIN_TYPE));
  }

  run(): void {
    this.ensure();
  }

  ensure(): WriteOutcome {
    const outcome = this.installer.ensure();
    if (outcome === 'written') this.deps.log.info({ dir: this.deps.cniBinDir }, 'installed the bridgeway plugin');
    return outcome;
  }
}
