// What bench:agent measures: one run of the agent in standalone mode, the runs at one size, and
// one Kubernetes-mode run. The measuring modules fill these in; the report modules print them.
import type { LogLine, MemoryStatus } from './agent-process.ts';

export type Install = 'cold' | 'warm' | 'stub';
/** The nodes file's format: the same nodes as YAML (flow style, as the e2e harness writes) or JSON. */
export type NodesFormat = 'yaml' | 'json';

export interface RunResult {
  install: Install;
  format: NodesFormat;
  lines: LogLine[];
  /** --once: spawn to exit 0. */
  wallMs?: number;
  /** Long-running: spawn to the "routes changed" / "wrote the CNI conflist" log lines. */
  routesMs?: number;
  readyMs?: number;
  /** The first sync's "installed the bridgeway plugin" minus the line before it. */
  installMs?: number;
  peak?: MemoryStatus;
  afterChanges?: MemoryStatus;
  iptablesRules: number;
  routeProblems: string[];
  changes: ChangeSample[];
  exitCode: number | null;
}

export interface ChangeSample {
  /** rename -> the route's event in ip monitor. */
  kernelMs: number;
  /** rename -> "nodes file loaded" (fs.watch delivery + read + YAML parse). */
  loadedMs: number;
  /** rename -> "routes changed" logged. */
  loggedMs: number;
}

/** Kubernetes mode at one size (warm plugin, long-running, --resync 10m). */
export interface KubeResult {
  size: number;
  /** Pods and NetworkPolicies the fake API server served (kube-pods.ts). */
  pods: number;
  policies: number;
  /** false: BRIDGEWAY_NETWORK_POLICY=false (the policies served, none enforced). */
  enforce: boolean;
  /** The --policies variant's label (the count, or off). */
  variant: string;
  /** The agent's CPU per change (ms): the agent's Pod relabelled, one policy selecting it edited. */
  changeCpu: { relabel?: ChangeCpu; policyEdit?: ChangeCpu };
  /** Memory and the agent's CPU (utime+stime since spawn) once every change is done. */
  steady?: MemoryStatus;
  cpuAtEndMs?: number;
  /** ms from spawn until /metrics showed every policy compiled and the table loaded; undefined: not within the wait. */
  policyMs?: number;
  /** One Pod's label changed (it gains or loses egress isolation): ms from the API write to `nft monitor` showing its element. */
  policyChanges: number[];
  /** Average JSON size of one Node as the fake API server sends it, and the whole list. */
  nodeBytes: number;
  listBytes: number;
  lines: LogLine[];
  routesMs: number;
  readyMs: number;
  /** CPU time from spawn to ready: the agent's, and this process's (the fake API server, our end of the relay). */
  agentCpuMs?: number;
  benchCpuMs: number;
  /** VmHWM right after convergence. */
  peak?: MemoryStatus;
  afterChanges?: MemoryStatus;
  afterNoise?: MemoryStatus;
  changes: ChangeSample[];
  /** bridgeway_syncs_total (all results) caused by the eth1-ip changes; undefined if /metrics was unreachable. */
  changeSyncs?: number;
  noise: NoiseResult;
  iptablesRules: number;
  routeProblems: string[];
}

export interface NoiseResult {
  updates: number;
  /** bridgeway_syncs_total after minus before; undefined if /metrics was unreachable. */
  syncs?: number;
  /** "routes changed" lines logged meanwhile (must be 0: nothing routable changed). */
  routesLogged: number;
  /** Every agent log line meanwhile. */
  logLines: number;
  /** The agent's CPU time (utime+stime) meanwhile. */
  cpuMs?: number;
}

export interface SizeResult {
  size: number;
  onceCold: RunResult;
  onceWarm: RunResult[];
  longCold: RunResult;
  longWarm: RunResult;
  longStub: RunResult;
  /** warm, with a JSON nodes file: what the YAML parser costs. */
  longWarmJson: RunResult;
}

/** One row of the spawn probe (spawn-probe.ts): held memory against a spawn's median time. */
export type SpawnRow = { heldMiB: number; medianMs: number };

/** One kind of change, `count` times: the agent's CPU for each (ms, clock ticks), and ms until it was applied (enforced only). */
export interface ChangeCpu {
  cpuMs: number[];
  applyMs: number[];
}
