// Pure: which cniVersion the conflist must carry for the node's container runtime. A runtime
// rejects every result newer than the libcni it vendors speaks: containerd 1.6/1.7 fail every
// pod on a 1.1.0 conflist with `unsupported CNI result version "1.1.0"` (issue 8).
import { compareVersions, type CniVersion } from '../../lib/cni-version.ts';

/** The newest version a conflist may use when nothing is known of the runtime. */
const SAFE_CNI_VERSION: CniVersion = '1.0.0';

/**
 * The first release of each runtime whose libcni (github.com/containernetworking/cni in its
 * go.mod) speaks CNI 1.1.0: libcni >= 1.2.0 (its version.All gained "1.1.0"); older ones stop
 * at 1.0.0. From the release tags' go.mod:
 *   containerd 1.6.5-1.6.39: cni v1.1.1 (1.6.0-1.6.4: v1.0.1, v1.1.0); 1.7.x: v1.1.2;
 *              2.0.0: v1.2.3; 2.1.x, 2.2.x: v1.3.0
 *   CRI-O      1.28-1.30: cni v1.1.2; 1.31, 1.32: v1.2.3; 1.33, 1.34: v1.3.0
 * Pre-releases of these first releases are not known: containerd 2.0.0-beta.0..rc.0 still had
 * v1.1.2 and rc.1 v1.2.0, so `2.0.0-rc.N` must not read as 2.0.0.
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

/**
 * `containerd://1.7.22` -> { name: 'containerd', version: '1.7.22' }; `containerd://2.0.0-rc.1`
 * also gives prerelease 'rc.1' (a distribution's `1.6.20~ds1` is not one). Undefined when unparsable.
 */
export function parseRuntimeVersion(text: string | undefined): { name: string; version: string; prerelease?: string } | undefined {
  const match = /^([a-z0-9.-]+):\/\/v?(\d+\.\d+(?:\.\d+)?)(?:-([0-9A-Za-z.-]+))?/i.exec(text?.trim() ?? '');
  if (!match) return undefined;
  return { name: match[1]!.toLowerCase(), version: match[2]!, ...(match[3] !== undefined && { prerelease: match[3] }) };
}

/** The newest CNI version the runtime speaks; undefined for a runtime (or pre-release) we do not know. */
export function newestVersionSpoken(runtimeVersion: string | undefined): CniVersion | undefined {
  const runtime = parseRuntimeVersion(runtimeVersion);
  const first = runtime && FIRST_SPEAKING_1_1_0[runtime.name];
  if (!runtime || !first) return undefined;
  const order = compareVersions(runtime.version, first);
  if (order === 0 && runtime.prerelease !== undefined) return undefined;
  return order >= 0 ? '1.1.0' : '1.0.0';
}

/**
 * An explicit --cni-version always wins. Otherwise the runtime decides (Kubernetes mode knows it
 * from the Node), and anything unknown, standalone mode included, gets 1.0.0, which every
 * runtime still in use speaks.
 */
export function chooseCniVersion(input: { explicit?: CniVersion; runtimeVersion?: string; standalone?: boolean }): CniVersionChoice {
  if (input.explicit) return { version: input.explicit, source: 'flag', reason: `--cni-version ${input.explicit}` };
  if (input.standalone) {
    return { version: SAFE_CNI_VERSION, source: 'default', reason: `standalone mode has no Node to read the runtime from: ${SAFE_CNI_VERSION}, which every supported runtime speaks` };
  }
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
