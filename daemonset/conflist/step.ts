// Step: the conflist, written last (a conflist in the conf dir tells the runtime the network is
// ready), in a cniVersion the node's runtime speaks, with portmap chained only if it speaks it too.
import fs from 'node:fs';
import path from 'node:path';
import { formatCidr, type IpCidr } from '../../lib/cidr.ts';
import type { CniVersion } from '../../lib/cni-version.ts';
import { errorMessage } from '../../lib/errors.ts';
import type { Runner } from '../../lib/exec.ts';
import type { Logger } from '../../lib/log.ts';
import { renderConflist } from './render.ts';
import { writeFileIfChanged } from '../host/install.ts';
import type { NodeInterface } from '../host/interface.ts';
import { OncePerChange } from '../loop/once-per-change.ts';
import type { SyncStep } from '../loop/step.ts';
import type { NodeSync } from '../loop/sync.ts';
import type { Metrics } from '../serve/metrics.ts';
import { chooseCniVersion, newestVersionSpoken, runtimeAccepts, type CniVersionChoice } from './cni-version.ts';
import { CONFLIST_NAME } from '../../lib/names.ts';

export interface ConflistSettings {
  /** --cni-version; undefined: chosen from the runtime (Kubernetes mode) or 1.0.0 (standalone). */
  explicit?: CniVersion;
  standalone: boolean;
  cniConfDir: string;
  cniBinDir: string;
  bridge: string;
  /** --bridge-type ovs: written into the conflist as bridgeType, ovsdbSocket, ovsDatapath. */
  ovs?: { socket: string; datapath: string };
  dataDir: string;
  cniLogFile: string;
  logLevel: string;
}

export interface ConflistInput {
  /** Our podCIDR of each family the cluster uses, IPv4 first. */
  podCIDRs: readonly IpCidr[];
  iface: NodeInterface;
  /** Our Node's status.nodeInfo.containerRuntimeVersion (Kubernetes mode). */
  runtimeVersion?: string;
}

export interface ConflistOutcome {
  file: string;
  written: boolean;
  choice: CniVersionChoice;
  portmap: boolean;
  /** Set when the runtime provably cannot use this conflist: why, for /readyz, the Node and the log. */
  mismatch?: string;
  /** Set when there is no conflist yet and its first write waits: why (the NetworkPolicy table not loaded). */
  held?: string;
}

export interface ConflistDeps {
  run: Runner;
  log: Logger;
  metrics: Metrics;
  settings: ConflistSettings;
  /**
   * Why the first conflist must wait, or undefined. A conflist is what lets the runtime start
   * pods here: with NetworkPolicy on, none starts before the node's policy table is in the
   * kernel. Only the first write waits: a conflist in place (an agent restart, whose table the
   * kernel kept) is kept and rewritten as needed.
   */
  firstWriteWaitsFor?: () => string | undefined;
}

export class ConflistSync implements SyncStep<NodeSync, 'conflist'> {
  readonly name = 'conflist';
  private readonly deps: ConflistDeps;
  private readonly m;
  private readonly reportedChoice = new OncePerChange();
  /** '' while the runtime speaks the conflist's version. */
  private readonly reportedMismatch = new OncePerChange('');
  /** portmap's supportedVersions, asked once; the versions we already warned about. */
  private portmapVersions: string[] | undefined;
  private readonly portmapWarned = new Set<string>();
  private readonly reportedHold = new OncePerChange('');

  constructor(deps: ConflistDeps) {
    this.deps = deps;
    this.m = {
      info: deps.metrics.gauge('bridgeway_conflist_info', 'The conflist\'s cniVersion and where the choice came from (flag, runtime, default); always 1.'),
      mismatch: deps.metrics.gauge('bridgeway_conflist_runtime_mismatch', '1 when the node\'s container runtime provably cannot use the conflist\'s cniVersion.'),
    };
  }

  async run(sync: NodeSync): Promise<void> {
    sync.found.conflist = await this.sync({ podCIDRs: sync.podCIDRs, iface: sync.iface, runtimeVersion: sync.self?.containerRuntimeVersion });
  }

  async sync(input: ConflistInput): Promise<ConflistOutcome> {
    const { log, settings } = this.deps;
    const runtimeVersion = settings.standalone ? undefined : input.runtimeVersion;
    const choice = chooseCniVersion({ explicit: settings.explicit, runtimeVersion, standalone: settings.standalone });
    this.reportedChoice.whenChanged(`${choice.version} ${choice.source} ${choice.reason}`, () => {
      log.info({ cniVersion: choice.version, source: choice.source, runtime: runtimeVersion }, `conflist cniVersion ${choice.version}: ${choice.reason}`);
      this.m.info.reset();
      this.m.info.set(1, { cni_version: choice.version, source: choice.source });
    });
    const mismatch = runtimeAccepts(runtimeVersion, choice.version)
      ? undefined
      : `the conflist's cniVersion ${choice.version} (${choice.reason}) is newer than ${runtimeVersion} speaks (up to ${newestVersionSpoken(runtimeVersion)}): `
        + `the runtime fails every pod with "unsupported CNI result version"; unset --cni-version to choose from the runtime`;
    this.reportedMismatch.whenChanged(mismatch ?? '', () => {
      if (mismatch) log.error({ cniVersion: choice.version, runtime: runtimeVersion }, mismatch);
      else if (settings.explicit) log.info({ cniVersion: choice.version, runtime: runtimeVersion }, 'the runtime speaks the conflist\'s cniVersion again');
    });
    this.m.mismatch.set(mismatch ? 1 : 0);

    const portmap = await this.portmapSpeaks(choice.version);
    const conflist = renderConflist({
      cniVersion: choice.version,
      podCIDR: input.podCIDRs,
      mtu: input.iface.mtu,
      bridge: settings.bridge,
      ...(settings.ovs && { ovs: settings.ovs }),
      portmap,
      logLevel: settings.logLevel,
      dataDir: settings.dataDir,
      logFile: settings.cniLogFile,
    });
    const file = path.join(settings.cniConfDir, CONFLIST_NAME);
    const held = fs.existsSync(file) ? undefined : this.deps.firstWriteWaitsFor?.();
    this.reportedHold.whenChanged(held ?? '', () => {
      if (held) log.info({ file }, `the conflist waits for NetworkPolicy (no pod starts here before the node's policies are enforced): ${held}`);
    });
    if (held) return { file, written: false, choice, portmap, held, ...(mismatch && { mismatch }) };
    const written = writeFileIfChanged(file, conflist) === 'written';
    if (written) log.info({ file, podCIDRs: input.podCIDRs.map(formatCidr), mtu: input.iface.mtu, cniVersion: choice.version }, 'wrote the CNI conflist');
    return { file, written, choice, portmap, ...(mismatch && { mismatch }) };
  }

  /**
   * Chain portmap (hostPorts) only if it speaks the conflist's version: a chained plugin that
   * refuses the version fails every DEL, and the runtime then leaks the pod's veth and address.
   */
  private async portmapSpeaks(version: CniVersion): Promise<boolean> {
    const { run, log, settings } = this.deps;
    const portmap = path.join(settings.cniBinDir, 'portmap');
    if (!fs.existsSync(portmap)) return false;
    if (this.portmapVersions === undefined) {
      try {
        const { stdout } = await run([portmap], { env: { CNI_COMMAND: 'VERSION' }, input: '{}' });
        this.portmapVersions = (JSON.parse(stdout) as { supportedVersions?: string[] }).supportedVersions ?? [];
      } catch (error) {
        this.portmapVersions = [];
        log.warn({ err: errorMessage(error) }, 'portmap did not answer VERSION');
      }
    }
    const speaks = this.portmapVersions.includes(version);
    if (!speaks && !this.portmapWarned.has(version)) {
      this.portmapWarned.add(version);
      log.warn({ supported: this.portmapVersions }, `portmap does not support CNI ${version}: not chained, so hostPorts will not work; upgrade it or set --cni-version`);
    }
    return speaks;
  }
}
