// The agent's process: configuration, wiring, signals. Everything else is in the modules. Started
// by the one executable's entry (bin/bridgeway.ts) when it runs as the agent.
import fs from 'node:fs';
import { createRunner, type Runner } from '../lib/exec.ts';
import { errnoCode, errorMessage } from '../lib/errors.ts';
import { createLogger, type Logger } from '../lib/log.ts';
import { ConfigError, helpText, parseAgentConfig, type AgentConfig } from './config.ts';
import { listenHttp, startHealthServer } from './serve/health.ts';
import { Metrics } from './serve/metrics.ts';
import type { NodeSource, NodeStatusApi } from './nodes/source.ts';
import { NodesFileSource } from './nodes/file-source.ts';
import { Reconciler } from './loop/reconciler.ts';
import { SyncScheduler } from './loop/scheduler.ts';
import { realClock } from './loop/clock.ts';
import { uninstall, type NodeMarksApi } from './uninstall.ts';
import { UninstallDaemon } from './uninstall-daemon.ts';
import { tuneMemory, youngCollector } from './loop/memory.ts';
import { iproute2Network, netlinkNetwork, type HostNetwork } from './host/network.ts';
import { loadLibc, NETLINK_NETFILTER, NETLINK_ROUTE, NetlinkSocket, runInNetns } from '../lib/netlink/socket.ts';
import { netlinkKernel } from '../lib/netlink/kernel.ts';
import { iproute2Kernel } from '../lib/iproute2/kernel.ts';
import type { Kernel } from '../lib/kernel/kernel.ts';
import { deleteConntrack, dumpConntrack } from '../lib/netlink/conntrack.ts';
import { addressFromBytes, Rtnl } from '../lib/netlink/rtnl.ts';
import type { IpAddress } from '../lib/cidr.ts';
import { readSysctl } from './host/checks.ts';
import { PolicyEnforcer, type ConntrackTable } from './policy/enforcer.ts';
import { nftPolicyKernel } from './policy/kernel.ts';
import type { PolicySource } from './policy/source.ts';
import { SteeringSync } from './ovs/steering-step.ts';

/** Standalone mode has no API to watch: a source that never lists (only BRIDGEWAY_NETWORK_POLICY=false uses it, to remove the table). */
const NO_POLICY_SOURCE: PolicySource = { start() {}, stop() {}, synced: () => false, connected: () => false, objects: () => ({ pods: [], namespaces: [], policies: [] }) };

/**
 * rtnetlink from this process where the runtime has FFI (the Bun executable, as the plugin does:
 * no `ip` process per sync); iproute2 processes otherwise (the agent built for Node).
 */
function createNetwork(run: Runner): HostNetwork {
  const libc = loadLibc();
  return libc ? netlinkNetwork(() => NetlinkSocket.open(libc, NETLINK_ROUTE)) : iproute2Network(run);
}

/**
 * Starts `later` once `first` is connected (listed and watching; checked every 100 ms) and the
 * sync in flight then (the one the list triggered: every route at once) has finished.
 */
function startWhenConnected(first: NodeSource, later: PolicySource, syncInFlight: () => Promise<void>): { cancel(): void } {
  let cancelled = false;
  const timer = setInterval(() => {
    if (!first.connected()) return;
    clearInterval(timer);
    void syncInFlight().then(() => {
      if (!cancelled) later.start();
    });
  }, 100);
  return {
    cancel: () => {
      cancelled = true;
      clearInterval(timer);
    },
  };
}

/** The node's conntrack table over ctnetlink from this process (one socket, opened on first use); none without FFI. */
function createConntrack(): ConntrackTable | undefined {
  const libc = loadLibc();
  if (!libc) return undefined;
  let socket: NetlinkSocket | undefined;
  const open = () => (socket ??= NetlinkSocket.open(libc, NETLINK_NETFILTER));
  return { dump: () => dumpConntrack(open()), remove: (entry) => deleteConntrack(open(), entry) };
}

/** The plugin's Kernel in the node's own namespace: rtnetlink on Bun, iproute2 on the Node build. */
function createKernel(run: Runner): Kernel {
  const libc = loadLibc();
  if (!libc) return iproute2Kernel(run);
  return netlinkKernel((netns) => NetlinkSocket.open(libc, NETLINK_ROUTE, netns), { runInNetns: (netns, action) => runInNetns(libc, netns, action) });
}

/** This node's addresses now, every scope (rtnetlink; undefined without it: the Node build). */
function createNodeAddresses(): (() => IpAddress[]) | undefined {
  const libc = loadLibc();
  if (!libc) return undefined;
  let rtnl: Rtnl | undefined;
  return () => (rtnl ??= new Rtnl(NetlinkSocket.open(libc, NETLINK_ROUTE))).listAddresses().flatMap((a) => addressFromBytes(a.address) ?? []);
}

/**
 * At most one young collection per this many ms of a policy compile: ~0.35 ms each, ~12 in a
 * 5,000-pod, 1,000-policy compile of ~45 ms, whose time did not move measurably (bench/AGENT.md).
 */
const COMPILE_CHECKPOINT_MS = 4;

async function runAgent(config: AgentConfig, log: Logger): Promise<number> {
  const afterBurst = tuneMemory();
  const run = createRunner();
  const network = createNetwork(run);
  const metrics = new Metrics();
  let scheduler: SyncScheduler | undefined;
  const onChange = () => scheduler?.trigger();
  let source: NodeSource;
  let nodeStatus: NodeStatusApi | undefined;
  let policySource: PolicySource | undefined;
  let policy: PolicyEnforcer | undefined;
  const onPolicyChange = () => policy?.changed();
  let policyLoaded = false;
  if (config.nodesFile) {
    source = new NodesFileSource({ file: config.nodesFile, log, onChange, afterLoad: afterBurst });
    log.info({ file: config.nodesFile }, 'standalone mode: peers come from the nodes file');
  } else {
    // Loaded only in Kubernetes mode: the client library is most of the agent's start-up.
    const { createKubeNodeApi, createKubeNodeSource, createKubePolicySource, loadKubeConfig } = await import('./kube/index.ts');
    const kubeconfig = loadKubeConfig(config.kubeconfig);
    source = createKubeNodeSource({ kubeconfig, log, metrics, onChange, afterPage: afterBurst });
    nodeStatus = createKubeNodeApi({ kubeconfig, log });
    if (config.networkPolicy) policySource = createKubePolicySource({ kubeconfig, log, metrics, onChange: onPolicyChange, afterPage: afterBurst });
  }
  // OVS: the same-node steering flows, a sync step whose state the enforcer's readiness reads.
  const steering = new SteeringSync({ log, ovsdbSocket: config.ovsdbSocket, bridge: config.bridge, enabled: config.bridgeType === 'ovs' });
  if (policySource || !config.networkPolicy) {
    policy = new PolicyEnforcer({
      kernel: nftPolicyKernel(run), conntrack: createConntrack(), nodeAddresses: createNodeAddresses(), source: policySource ?? NO_POLICY_SOURCE, nodeName: config.nodeName, enabled: config.networkPolicy,
      families: config.clusterCIDRs.map((c) => c.family), sysctl: (key) => readSysctl('/proc/sys', key), bridgeType: config.bridgeType, sameNodeSteering: () => steering.notSteered(), log, metrics,
      checkpoint: youngCollector(COMPILE_CHECKPOINT_MS),
      afterApply: () => {
        afterBurst();
        // The first table in the kernel releases the conflist (conflist/step.ts): sync now, not at the next resync.
        if (!policyLoaded && policy?.notLoaded() === undefined) {
          policyLoaded = true;
          scheduler?.trigger();
        }
      },
    });
  }
  const reconciler = new Reconciler({ run, network, log, metrics, config, source, nodeStatus, policy, steering, betweenPhases: afterBurst });
  source.start();
  // The policy lists wait for the Node list and the sync it triggers: at 5,000 nodes either in
  // flight beside them set the agent's peak RSS (pages of both lists, parsed, and the sync's route
  // dump, alive together); the Node list and that sync are what the node's routes wait for.
  const startPolicies = policySource && startWhenConnected(source, policySource, () => scheduler?.idle ?? Promise.resolve());

  if (config.once) {
    try {
      await reconciler.sync();
    } finally {
      afterBurst();
      source.stop();
      startPolicies?.cancel();
      policySource?.stop();
      steering.stop(); // its held OpenFlow connection
    }
    const reason = reconciler.syncNotReadyReason(); // --once loads no policy table: it lists no pods
    if (reason) log.error(`not in place: ${reason}`);
    return reason ? 1 : 0;
  }

  scheduler = new SyncScheduler({
    sync: async () => {
      try {
        await reconciler.sync();
      } finally {
        afterBurst();
      }
    },
    resyncMs: config.resyncMs,
    onError: (error, attempt, retryInMs) => log.error({ attempt, retryInMs, err: errorMessage(error) }, 'sync failed'),
  });
  // Bound before the first sync: while the uninstall DaemonSet holds this address on the node
  // (uninstall-daemon.ts), an agent started by mistake exits here and reinstalls nothing.
  let server;
  try {
    server = await startHealthServer(config.health, {
      metrics,
      notReadyReason: () => reconciler.notReadyReason(),
      readyDetail: () => reconciler.readyDetail(),
    });
  } catch (error) {
    source.stop();
    startPolicies?.cancel();
    policySource?.stop();
    if (errnoCode(error) !== 'EADDRINUSE') throw error;
    log.error({ err: errorMessage(error) }, `${config.health.host}:${config.health.port} is in use: another bridgeway agent, or the uninstall DaemonSet (bridgeway-uninstall), runs on this node; not starting`);
    return 1;
  }
  log.info({ health: `${config.health.host}:${config.health.port}`, resyncMs: config.resyncMs, kernel: network.backend }, 'agent started');
  scheduler.start();

  // SIGTERM (restart, upgrade, drain) leaves routes and rules in place: traffic keeps flowing.
  await new Promise<void>((resolve) => {
    for (const signal of ['SIGTERM', 'SIGINT'] as const) process.once(signal, () => resolve());
  });
  log.info('stopping; routes, iptables rules and the policy table stay in place');
  scheduler.stop();
  source.stop();
  startPolicies?.cancel();
  policy?.stop();
  steering.stop();
  policySource?.stop();
  await scheduler.idle;
  await policy?.idle;
  server.close();
  return 0;
}

async function main(argv: string[]): Promise<number> {
  if (argv[0] === 'mirror') return mirror(argv.slice(1));
  let config: AgentConfig | undefined;
  try {
    // The image's bridgeway-agent is a symlink: the file to install is what it points to.
    config = parseAgentConfig(argv, process.env, fs.realpathSync(process.execPath));
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    process.stderr.write(`bridgeway-agent: ${error.message}\n`);
    return 2;
  }
  if (!config) {
    process.stdout.write(helpText());
    return 0;
  }
  const log = createLogger({ level: config.logLevel, base: { node: config.nodeName || undefined } });
  if (config.command === 'doctor') {
    const { doctor } = await import('./doctor/doctor.ts');
    const run = createRunner();
    return doctor(config, { run, network: createNetwork(run), write: (text) => process.stdout.write(text) });
  }
  if (config.command === 'policy') return explainCommand(config);
  if (config.command === 'uninstall') return runUninstall(config, log, createRunner());
  return runAgent(config, log);
}

/** `mirror <namespace>/<pod>`: an OVS Mirror of the pod's port until Ctrl-C (daemonset/ovs/mirror.ts). */
async function mirror(argv: string[]): Promise<number> {
  const { mirrorCommand, parseMirrorArgs, MirrorError } = await import('./ovs/mirror.ts');
  try {
    const args = parseMirrorArgs(argv, process.env);
    const interrupted = () => new Promise<string>((resolve) => { for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => resolve(signal)); });
    return await mirrorCommand(args, { out: (line) => process.stdout.write(`${line}\n`), kernel: createKernel(createRunner()), interrupted });
  } catch (error) {
    if (!(error instanceof Error)) throw error;
    process.stderr.write(`bridgeway-agent mirror: ${errorMessage(error)}\n`);
    return error instanceof MirrorError ? 2 : 1;
  }
}

/**
 * `policy explain`: the verdict from the cluster's objects as the agents compile them. Exit 0 with
 * the verdict either way; 1 when the objects cannot be read or a pod cannot be judged.
 */
async function explainCommand(config: AgentConfig): Promise<number> {
  const { listPolicyObjects } = await import('./kube/index.ts');
  const { explainPods } = await import('./policy/explain-pods.ts');
  try {
    const objects = await listPolicyObjects(config.kubeconfig);
    process.stdout.write(`${explainPods(objects, config.explain!).join('\n')}\n`);
    return 0;
  } catch (error) {
    if (!(error instanceof Error)) throw error; // ExplainInputError (a pod), an API or kubeconfig error
    process.stderr.write(`bridgeway-agent policy explain: ${errorMessage(error)}\n`);
    return 1;
  }
}

/** `uninstall` once (exit 1 if anything is left), or with --serve as the uninstall DaemonSet runs it. */
async function runUninstall(config: AgentConfig, log: Logger, run: Runner): Promise<number> {
  let api: NodeMarksApi | undefined;
  // Kubernetes mode unless a nodes file says otherwise; the client is loaded only then.
  const nodeMarks = config.nodesFile ? undefined : async () => {
    if (!api) {
      const { createNodeCleanup } = await import('./kube/index.ts');
      api = createNodeCleanup({ kubeconfig: config.kubeconfig, log });
    }
    return api;
  };
  const network = createNetwork(run);
  const once = () => uninstall(config, { run, network, kernel: createKernel(run), log, nodeMarks });
  if (!config.serve) {
    const failures = await once();
    for (const failure of failures) log.error(`uninstall: ${failure}`);
    return failures.length ? 1 : 0;
  }
  const daemon = new UninstallDaemon({
    clock: realClock, log, nodeName: config.nodeName, address: `${config.health.host}:${config.health.port}`,
    listen: (route) => listenHttp(config.health, route), uninstall: once,
  });
  // Success keeps the process (and /uninstalled) up until SIGTERM; only a failure to listen ends it.
  const cannotListen = daemon.done.then(() => new Promise<never>(() => {}), (error: unknown) => error);
  const signalled = new Promise<undefined>((resolve) => {
    for (const signal of ['SIGTERM', 'SIGINT'] as const) process.once(signal, () => resolve(undefined));
  });
  daemon.start();
  const error = await Promise.race([signalled, cannotListen]);
  daemon.stop();
  if (error === undefined) return 0;
  log.error(`uninstall: ${errorMessage(error)}`);
  return 1;
}

/** Runs the agent with its arguments (after `bridgeway-agent` or `bridgeway agent`) and exits with its code. */
export function runAgentProcess(args: string[]): void {
  main(args).then(
    (code) => process.exit(code),
    (error: unknown) => {
      process.stderr.write(`bridgeway-agent: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
      process.exit(1);
    },
  );
}
