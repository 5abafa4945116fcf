// The CNI protocol around our commands (modelled on containernetworking/cni pkg/skel):
// environment + stdin -> CmdArgs + NetConf -> command -> exactly one JSON document on stdout.
// Takes its IO as parameters so the whole protocol is unit-testable without a process.
import type { Runner } from '../lib/exec.ts';
import type { Kernel } from '../lib/kernel/kernel.ts';
import type { Logger } from '../lib/log.ts';
import type { IpamStore } from '../ipam/index.ts';
import type { IpFamily } from '../lib/cidr.ts';
import { parseNetConf, type NetConf } from './config/netconf.ts';
import { CniError, ErrorCode, toCniError } from './errors.ts';
import { CURRENT_VERSION, SUPPORTED_VERSIONS } from '../lib/cni-version.ts';

export type CniCommand = 'ADD' | 'DEL' | 'CHECK' | 'STATUS' | 'GC' | 'VERSION';

export interface CmdArgs {
  command: CniCommand;
  containerId: string;
  netns: string;
  ifname: string;
  /** CNI_ARGS parsed; validated against the keys we know unless IgnoreUnknown is set. */
  args: Map<string, string>;
  rawArgs: string;
  cniPath: string[];
}

export interface PluginIO {
  env: Record<string, string | undefined>;
  stdin: string;
  stdout: (text: string) => void;
}

export interface CommandContext {
  args: CmdArgs;
  conf: NetConf;
  /** External commands: the delegated IPAM plugin. */
  run: Runner;
  /** Links, addresses and routes of the node and the pod. */
  kernel: Kernel;
  log: Logger;
  /** Where /proc/sys is: the node's sysctls (tests point it at a directory of their own). */
  procSys: string;
  /** The IPAM store of a family, opened lazily: commands that do not need IPAM never touch the disk. */
  store: (family: IpFamily) => IpamStore;
}

/** A command returns the JSON document to print, or nothing. */
export type CommandHandler = (ctx: CommandContext) => Promise<object | void>;

export interface PluginDeps {
  run: Runner;
  /** Made once the command needs it: VERSION does not. */
  createKernel: () => Kernel;
  commands: Record<Exclude<CniCommand, 'VERSION'>, CommandHandler>;
  createLogger: (conf: NetConf) => Logger;
  createStore: (conf: NetConf, family: IpFamily) => IpamStore;
  /** Default /proc/sys. */
  procSys?: string;
}

const CONTAINER_ID = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/;
const KNOWN_CNI_ARGS = new Set(['IgnoreUnknown', 'K8S_POD_NAMESPACE', 'K8S_POD_NAME', 'K8S_POD_INFRA_CONTAINER_ID', 'K8S_POD_UID']);

/** Which variables each command requires (spec "Parameters"). */
const REQUIRED_ENV: Record<CniCommand, readonly string[]> = {
  ADD: ['CNI_CONTAINERID', 'CNI_NETNS', 'CNI_IFNAME'],
  DEL: ['CNI_CONTAINERID', 'CNI_IFNAME'],
  CHECK: ['CNI_CONTAINERID', 'CNI_NETNS', 'CNI_IFNAME'],
  STATUS: [],
  GC: [],
  VERSION: [],
};

function invalidEnv(message: string): CniError {
  return new CniError(ErrorCode.InvalidEnvironment, message);
}

function parseCmdArgs(env: Record<string, string | undefined>): CmdArgs {
  const command = env.CNI_COMMAND;
  if (!command) throw invalidEnv('CNI_COMMAND is not set (expected ADD, DEL, CHECK, STATUS, GC or VERSION)');
  if (!(command in REQUIRED_ENV)) {
    throw invalidEnv(`CNI_COMMAND ${JSON.stringify(command)} is not one of ADD, DEL, CHECK, STATUS, GC, VERSION`);
  }
  const cmd = command as CniCommand;
  const missing = REQUIRED_ENV[cmd].filter((name) => !env[name]);
  if (missing.length > 0) throw invalidEnv(`${cmd} requires ${missing.join(', ')} to be set`);

  const containerId = env.CNI_CONTAINERID ?? '';
  if (containerId && !CONTAINER_ID.test(containerId)) {
    throw invalidEnv(`CNI_CONTAINERID ${JSON.stringify(containerId)} must match ${CONTAINER_ID.source}`);
  }
  const ifname = env.CNI_IFNAME ?? '';
  if (ifname) validateIfname(ifname);
  const rawArgs = env.CNI_ARGS ?? '';
  return {
    command: cmd,
    containerId,
    netns: env.CNI_NETNS ?? '',
    ifname,
    args: parseCniArgs(rawArgs),
    rawArgs,
    cniPath: (env.CNI_PATH ?? '').split(':').filter(Boolean),
  };
}

function validateIfname(ifname: string): void {
  // Linux IFNAMSIZ is 16 including the NUL; "." and ".." and "/" would escape sysfs paths.
  if (ifname.length > 15 || ifname === '.' || ifname === '..' || /[\s/:]/.test(ifname)) {
    throw invalidEnv(`CNI_IFNAME ${JSON.stringify(ifname)} is not a valid interface name (1-15 characters, not "." or "..", no "/", ":" or whitespace)`);
  }
}

export function parseCniArgs(raw: string): Map<string, string> {
  const args = new Map<string, string>();
  for (const pair of raw.split(';').filter(Boolean)) {
    const eq = pair.indexOf('=');
    if (eq <= 0) throw invalidEnv(`CNI_ARGS entry ${JSON.stringify(pair)} is not KEY=VALUE`);
    args.set(pair.slice(0, eq), pair.slice(eq + 1));
  }
  const ignoreUnknown = ['1', 'true'].includes((args.get('IgnoreUnknown') ?? '').toLowerCase());
  const unknown = [...args.keys()].filter((key) => !KNOWN_CNI_ARGS.has(key));
  if (unknown.length > 0 && !ignoreUnknown) {
    throw new CniError(ErrorCode.UnsupportedField, `unknown CNI_ARGS key(s) ${unknown.join(', ')} (set IgnoreUnknown=1 to allow them)`);
  }
  return args;
}

/** Runs one plugin invocation; returns the process exit code. */
export async function runPlugin(io: PluginIO, deps: PluginDeps): Promise<number> {
  let cniVersion = CURRENT_VERSION;
  let log: Logger | undefined;
  let args: CmdArgs | undefined;
  try {
    args = parseCmdArgs(io.env);
    if (args.command === 'VERSION') {
      io.stdout(JSON.stringify({ cniVersion: CURRENT_VERSION, supportedVersions: SUPPORTED_VERSIONS }));
      return 0;
    }
    const conf = parseNetConf(io.stdin);
    cniVersion = conf.cniVersion;
    log = deps.createLogger(conf).child({ cmd: args.command, containerId: args.containerId || undefined, ifname: args.ifname || undefined });
    const stores = new Map<IpFamily, IpamStore>();
    const output = await deps.commands[args.command]({
      args,
      conf,
      run: deps.run,
      kernel: deps.createKernel(),
      log,
      procSys: deps.procSys ?? '/proc/sys',
      store: (family) => {
        let store = stores.get(family);
        if (!store) stores.set(family, (store = deps.createStore(conf, family)));
        return store;
      },
    });
    if (output) io.stdout(JSON.stringify(output));
    return 0;
  } catch (error) {
    const cniError = toCniError(error);
    const stack = error instanceof CniError || !(error instanceof Error) ? undefined : error.stack;
    log?.error({ code: cniError.code, details: cniError.details || undefined, stack }, cniError.message);
    io.stdout(JSON.stringify({ cniVersion, code: cniError.code, msg: cniError.message, details: cniError.details || undefined }));
    return 1;
  }
}
