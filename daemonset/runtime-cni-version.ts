// Pure: which cniVersion the conflist must carry for the node's container runtime. A runtime
// rejects every result newer than the libcni it vendors speaks: containerd 1.6/1.7 fail every
// pod on a 1.1.0 conflist with `unsupported CNI result version "1.1.0"` (issue 8).
import { compareVersions, type CniVersion } from '../lib/cni-version.ts';

/** The newest version a conflist may use when nothing is known of the runtime. */
export const SAFE_CNI_VERSION: CniVersion = '1.0.0';

/**
 * The first release of each runtime whose vendored libcni speaks CNI 1.1.0 (libcni >= 1.2.0);
 * every older release stops at 1.0.0. Read from each release's vendor/modules.txt.
 */
const FIRST_SPEAKING_1_1_0: Record<string, string> = {
  containerd: '2.0.0',
  'cri-o': '1.31.0',
};

export interface CniVersionChoice {
  version: CniVersion;
  /** Where the choice came from, for logs, /readyz and the metric label. */
  source: 'flag' | 'runtime' | 'default';
  reason: string;
}

/** `containerd://1.7.22` -> { name: 'containerd', version: '1.7.22' }; undefined when unparsable. */
export function parseRuntimeVersion(text: string | undefined): { name: string; version: string } | undefined {
  const match = /^([a-z0-9.-]+):\/\/v?(\d+\.\d+(?:\.\d+)?)/i.exec(text?.trim() ?? '');
  return match ? { name: match[1]!.toLowerCase(), version: match[2]! } : undefined;
}

/** The newest CNI version the runtime speaks; undefined for a runtime we do not know. */
export function newestVersionSpoken(runtimeVersion: string | undefined): CniVersion | undefined {
  const runtime = parseRuntimeVersion(runtimeVersion);
  const first = runtime && FIRST_SPEAKING_1_1_0[runtime.name];
  if (!runtime || !first) return undefined;
  return compareVersions(runtime.version, first) >= 0 ? '1.1.0' : '1.0.0';
}

/**
 * An explicit --cni-version always wins. Otherwise the runtime decides (Kubernetes mode knows it
 * from the Node), and anything unknown gets 1.0.0, which every runtime still in use speaks.
 */
export function chooseCniVersion(input: { explicit?: CniVersion; runtimeVersion?: string }): CniVersionChoice {
  if (input.explicit) return { version: input.explicit, source: 'flag', reason: `--cni-version ${input.explicit}` };
  const spoken = newestVersionSpoken(input.runtimeVersion);
  if (spoken) return { version: spoken, source: 'runtime', reason: `${input.runtimeVersion} speaks CNI up to ${spoken}` };
  const why = input.runtimeVersion ? `runtime ${input.runtimeVersion} is not one we know` : 'the container runtime is unknown';
  return { version: SAFE_CNI_VERSION, source: 'default', reason: `${why}: ${SAFE_CNI_VERSION}, which every supported runtime speaks` };
}

/** Whether a conflist of `cniVersion` works with the runtime: false only when provably not. */
export function runtimeAccepts(runtimeVersion: string | undefined, cniVersion: string): boolean {
  const spoken = newestVersionSpoken(runtimeVersion);
  return spoken === undefined || compareVersions(cniVersion, spoken) <= 0;
}
