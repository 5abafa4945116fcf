// A containerd "node" for containerd.test.ts: containerd runs in a network namespace of its own,
// in a private mount namespace where our temp dirs stand in for /etc/cni/net.d, /opt/cni/bin,
// /var/lib/cni, /run/containerd and /var/log/bridgeway, and as PID 1 of a PID namespace, so
// killing it takes every shim and container with it (e2e/containerd/node.sh). Pods run from a
// busybox-static rootfs directory: no image, no registry (image.test.ts imports the agent's image
// from an archive). Nothing of the machine is used or changed.
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { poll, sleep, within } from '../support/poll.ts';

const REPO = path.resolve(import.meta.dirname, '../..');
import { PLUGIN } from '../support/cluster.ts';
import { CONFLIST_NAME, DEFAULT_BRIDGE, NETWORK_NAME, PLUGIN_TYPE } from '../../lib/names.ts';

export { PLUGIN };
const NODE_SH = path.join(REPO, 'e2e/containerd/node.sh');
const PORTMAP = '/usr/lib/cni/portmap';
const BUSYBOX = '/bin/busybox';
export const SUBNET = '10.99.0.0/24';
export const GATEWAY = '10.99.0.1';
/** The test's own conflist is dual-stack: each container also gets an address of this range. */
export const SUBNET6 = 'fd00:99::/64';
export const GATEWAY6 = 'fd00:99::1';
export const NETWORK = NETWORK_NAME;
/**
 * Not 1.1.0: Debian 12's containerd 1.6 vendors libcni 1.1, which cannot parse a 1.1.0 result
 * ("unsupported CNI result version"), and its portmap (plugins 1.1.1) refuses a 1.1.0 config.
 * containerd >= 2.0 (libcni 1.2) is needed for 1.1.0 conflists.
 */
export const CNI_VERSION = '1.0.0';
/** Machine paths the private mount namespace hides: they must look the same after the test. */
export const MACHINE_PATHS = ['/etc/cni', '/opt/cni', '/var/lib/cni', '/run/containerd', '/var/log/bridgeway'];

// ---------------------------------------------------------------- prerequisites

function which(command: string): string | undefined {
  for (const dir of ['/usr/local/sbin', '/usr/local/bin', '/usr/sbin', '/usr/bin', '/sbin', '/bin']) {
    const candidate = path.join(dir, command);
    try {
      fs.accessSync(candidate, fs.constants.X_OK);
      return candidate;
    } catch {
      // next
    }
  }
  return undefined;
}

/** True for an ELF executable without a program interpreter (PT_INTERP): it runs in an empty rootfs. */
function isStaticElf(file: string): boolean {
  let data: Buffer;
  try {
    data = fs.readFileSync(file);
  } catch {
    return false;
  }
  if (data.length < 64 || data.readUInt32BE(0) !== 0x7f454c46 || data[4] !== 2 || data[5] !== 1) return false; // 64-bit LE ELF
  const phoff = Number(data.readBigUInt64LE(0x20));
  const phentsize = data.readUInt16LE(0x36);
  const phnum = data.readUInt16LE(0x38);
  for (let i = 0; i < phnum; i++) {
    if (data.readUInt32LE(phoff + i * phentsize) === 3) return false; // PT_INTERP
  }
  return true;
}

export function skipReason(): string | undefined {
  if (process.getuid?.() !== 0) return 'needs root (network, mount and PID namespaces, containerd)';
  const missing = [
    ['containerd', 'containerd'], ['ctr', 'containerd'], ['containerd-shim-runc-v2', 'containerd'], ['runc', 'runc'],
    ['nsenter', 'util-linux'], ['unshare', 'util-linux'], ['ip', 'iproute2'], ['iptables', 'iptables'],
  ].filter(([command]) => !which(command!)).map(([command, pkg]) => `${command} (Debian package ${pkg})`);
  if (!fs.existsSync(PORTMAP)) missing.push(`${PORTMAP} (Debian package containernetworking-plugins)`);
  if (!isStaticElf(BUSYBOX)) missing.push(`a static ${BUSYBOX} (Debian package busybox-static)`);
  return missing.length > 0 ? `missing ${missing.join(', ')}` : undefined;
}

// ---------------------------------------------------------------- processes

export interface Done {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Runs argv to completion (no shell); never rejects on a non-zero exit. */
export function exec(argv: string[], timeoutMs = 20_000): Promise<Done> {
  return new Promise((resolve, reject) => {
    const child = spawn(argv[0]!, argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'], timeout: timeoutMs, killSignal: 'SIGKILL' });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
}

export async function execOk(argv: string[], timeoutMs?: number): Promise<string> {
  const done = await exec(argv, timeoutMs);
  if (done.code !== 0) throw new Error(`${argv.join(' ')} failed (${done.code ?? done.signal}): ${done.stderr.trim()} ${done.stdout.trim()}`);
  return done.stdout;
}

function exited(child: ChildProcess): Promise<void> {
  return child.exitCode !== null || child.signalCode !== null ? Promise.resolve() : new Promise((resolve) => child.once('exit', () => resolve()));
}

export { sleep, within };

/** Polls probe every 50 ms until it returns a truthy value; a probe that throws ends the wait. */
export function until<T>(what: string, timeoutMs: number, probe: () => T | undefined | Promise<T | undefined>): Promise<T> {
  return poll(probe, { what, timeoutMs });
}

function alive(pid: number): boolean {
  return fs.existsSync(`/proc/${pid}`) && !/^State:\s+Z/m.test(readOr(`/proc/${pid}/status`, ''));
}

export function readOr(file: string, fallback: string): string {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch {
    return fallback;
  }
}

function tail(file: string, lines = 20): string {
  return readOr(file, '').trim().split('\n').slice(-lines).join('\n');
}

// ---------------------------------------------------------------- the node

export interface IpLink {
  ifname: string;
  master?: string;
  addr_info?: { family: string; local: string; prefixlen: number }[];
}

/** Links with their addresses, in the named netns or the root namespace. */
export async function ipLinks(netns?: string): Promise<IpLink[]> {
  return JSON.parse(await execOk(['ip', ...(netns ? ['-n', netns] : []), '-j', 'addr', 'show'])) as IpLink[];
}

/** One containerd node, private to this run. */
export class ContainerdNode {
  readonly prefix = `bwctr${randomBytes(3).toString('hex')}`;
  readonly netns = `${this.prefix}-node`;
  readonly work = fs.mkdtempSync(path.join(os.tmpdir(), `${this.prefix}-`));
  readonly rootfs = path.join(this.work, 'rootfs');
  readonly store = path.join(this.work, 'data', NETWORK);
  readonly cniLog = path.join(this.work, 'cni.log');
  readonly containerdLog = path.join(this.work, 'containerd.log');
  private readonly socket = path.join(this.work, 'containerd.sock');
  private netnsCreated = false;
  private unshare?: ChildProcess;
  /** containerd's PID as the root namespace sees it: the target for nsenter. */
  private containerdPid?: number;
  private readonly clients = new Set<ChildProcess>();

  constructor() {
    // Lets a later run clean up after this one if this process dies before its finally runs.
    fs.writeFileSync(path.join(this.work, 'owner'), String(process.pid));
  }

  readonly netd = path.join(this.work, 'net.d');
  readonly bin = path.join(this.work, 'bin');

  /**
   * Writes the conflist, plugin dir and rootfs; creates the node netns; starts containerd. With
   * `agent: true` the conflist and bridgeway are left to the agent (portmap is still there).
   * `shadows`: more node paths (absolute, no spaces) -> the directories of ours they show.
   */
  async start(options: { agent?: boolean; shadows?: Record<string, string> } = {}): Promise<void> {
    assert.ok(this.socket.length + '.ttrpc'.length < 100, `temp dir ${this.work} is too long for a unix socket path`);
    const { netd, bin } = this;
    fs.mkdirSync(netd);
    fs.mkdirSync(bin);
    // Symlinks, not copies of a 120 MB executable: the runtime execs /opt/cni/bin/<type>.
    fs.symlinkSync(PORTMAP, path.join(bin, 'portmap'));
    if (!options.agent) this.writeConflist();

    fs.mkdirSync(path.join(this.rootfs, 'bin'), { recursive: true });
    fs.copyFileSync(BUSYBOX, path.join(this.rootfs, 'bin/busybox'));
    fs.chmodSync(path.join(this.rootfs, 'bin/busybox'), 0o755);
    for (const applet of ['sh', 'ip', 'ping', 'sleep', 'cat', 'httpd', 'wget', 'timeout']) fs.symlinkSync('busybox', path.join(this.rootfs, 'bin', applet));
    // For `httpd -h /www`: a CGI that answers with the address the connection came from.
    fs.mkdirSync(path.join(this.rootfs, 'www/cgi-bin'), { recursive: true });
    fs.writeFileSync(path.join(this.rootfs, 'www/cgi-bin/peer'), '#!/bin/sh\nprintf "Content-Type: text/plain\\r\\n\\r\\npeer=%s\\n" "$REMOTE_ADDR"\n', { mode: 0o755 });

    await execOk(['ip', 'netns', 'add', this.netns]);
    this.netnsCreated = true;

    const log = fs.openSync(this.containerdLog, 'a');
    try {
      const shadows = Object.entries(options.shadows ?? {}).map(([target, source]) => {
        assert.ok(path.isAbsolute(target) && path.isAbsolute(source) && !/[\s=]/.test(target + source), `shadow ${target}=${source}`);
        return `${target}=${source}`;
      });
      this.unshare = spawn(NODE_SH, [this.netns, this.work], { stdio: ['ignore', log, log], env: { ...process.env, BRIDGEWAY_NODE_SHADOWS: shadows.join(' ') } });
    } finally {
      fs.closeSync(log);
    }
    const unshare = this.unshare;
    const pid = unshare.pid!;
    this.containerdPid = await until('containerd to start', 10_000, () => {
      if (unshare.exitCode !== null) throw new Error(`node.sh exited (${unshare.exitCode}):\n${tail(this.containerdLog)}`);
      const child = Number(readOr(`/proc/${pid}/task/${pid}/children`, '').trim().split(/\s+/)[0]);
      return child > 0 && readOr(`/proc/${child}/comm`, '').trim() === 'containerd' ? child : undefined;
    });
    await until('containerd to serve its socket', 10_000, async () => {
      if (unshare.exitCode !== null) throw new Error(`containerd exited (${unshare.exitCode}):\n${tail(this.containerdLog)}`);
      return (await exec(this.ctrArgv(['version']), 5_000)).code === 0 ? true : undefined;
    });
  }

  /** The test's own conflist, and the plugin it names. */
  private writeConflist(): void {
    fs.symlinkSync(PLUGIN, path.join(this.bin, PLUGIN_TYPE));
    const conflist = {
      cniVersion: CNI_VERSION,
      name: NETWORK,
      plugins: [
        // The plugin's defaults otherwise (hairpin and anti-spoofing on).
        { type: PLUGIN_TYPE, bridge: DEFAULT_BRIDGE, ipam: { ranges: [[{ subnet: SUBNET }], [{ subnet: SUBNET6 }]] }, dataDir: path.join(this.work, 'data'), logFile: this.cniLog },
        { type: 'portmap', capabilities: { portMappings: true } },
      ],
    };
    fs.writeFileSync(path.join(this.netd, CONFLIST_NAME), JSON.stringify(conflist, null, 2));
  }

  /** Runs inside the node: its network, mount and PID namespaces. */
  inNode(argv: string[]): string[] {
    assert.ok(this.containerdPid, 'containerd is not running');
    return ['nsenter', `--target=${this.containerdPid}`, '--mount', '--net', '--pid', '--', ...argv];
  }

  /** ctr talking to our containerd, in our own containerd namespace (named like the run). */
  ctrArgv(args: string[]): string[] {
    return this.inNode(['ctr', '--address', this.socket, '--namespace', this.prefix, ...args]);
  }

  /** `ctr run --rm --cni` of a busybox command; settles when the container is gone again. */
  runPod(id: string, script: string): { child: ChildProcess; done: Promise<Done>; output: () => string; errors: () => string } {
    const argv = this.ctrArgv(['run', '--rm', '--cni', '--rootfs', this.rootfs, id, '/bin/sh', '-c', script]);
    const child = spawn(argv[0]!, argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] });
    this.clients.add(child);
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (d) => (stdout += d));
    child.stderr!.on('data', (d) => (stderr += d));
    const done = new Promise<Done>((resolve, reject) => {
      child.on('error', reject);
      child.on('close', (code, signal) => {
        this.clients.delete(child);
        resolve({ code, signal, stdout, stderr });
      });
    });
    return { child, done, output: () => stdout, errors: () => stderr };
  }

  /** Runs a busybox script inside a running container (`ctr task exec`); never rejects on a non-zero exit. */
  execInPod(id: string, script: string, timeoutMs = 30_000): Promise<Done> {
    return exec(this.ctrArgv(['task', 'exec', '--exec-id', `exec-${randomBytes(3).toString('hex')}`, id, '/bin/sh', '-c', script]), timeoutMs);
  }

  /** The CNI container ID ctr uses: "<namespace>-<id>". */
  containerId(id: string): string {
    return `${this.prefix}-${id}`;
  }

  links(): Promise<IpLink[]> {
    return ipLinks(this.netns);
  }

  /** The node side of the pod network, for failure messages. */
  async networkState(): Promise<string> {
    const parts: string[] = [];
    for (const argv of [['ip', '-s', '-d', 'link', 'show'], ['ip', 'addr', 'show', 'dev', 'cni0'], ['ip', 'neigh'], ['bridge', 'link', 'show'], ['bridge', 'fdb', 'show', 'br', 'cni0']]) {
      const done = await exec(['nsenter', `--net=/run/netns/${this.netns}`, '--', ...argv]);
      parts.push(`$ ${argv.join(' ')}\n${done.stdout}${done.stderr}`);
    }
    return parts.join('\n');
  }

  /** The reserved addresses of a family, as the IPAM store names them (IPv6 with `-` for `:`). */
  reserved(family: 4 | 6 = 4): string[] {
    try {
      return fs.readdirSync(path.join(this.store, ...(family === 6 ? ['ipv6'] : []), 'ips')).filter((f) => !f.endsWith('.tmp')).sort();
    } catch {
      return [];
    }
  }

  /** libcni's cached results, which must land in our private /var/lib/cni. */
  cachedResults(): string[] {
    try {
      return fs.readdirSync(path.join(this.work, 'cni-cache', 'results')).sort();
    } catch {
      return [];
    }
  }

  diagnostics(): string {
    return `\n--- containerd.log\n${tail(this.containerdLog)}\n--- cni.log\n${tail(this.cniLog)}`;
  }

  /**
   * Stops everything and removes every trace: ctr clients, containerd (the kernel then kills
   * every shim and container in its PID namespace, and the private mounts vanish with the mount
   * namespace), the cgroups runc made, the node netns, the temp dir. Never throws: returns what it
   * could not clean.
   */
  async destroy(): Promise<string[]> {
    const problems: string[] = [];
    for (const client of this.clients) client.kill('SIGKILL');
    if (this.containerdPid && alive(this.containerdPid)) process.kill(this.containerdPid, 'SIGTERM');
    if (this.unshare) {
      // unshare ignores SIGTERM while it waits for its child; it exits when containerd does.
      const unshare = this.unshare;
      const stopped = (await within(exited(unshare).then(() => true), 10_000)) ?? false;
      if (!stopped) {
        problems.push('containerd ignored SIGTERM for 10 s; killed');
        unshare.kill('SIGKILL'); // --kill-child: containerd gets SIGKILL too
        await exited(unshare);
      }
      await until('the node PID namespace to empty', 10_000, () => (this.containerdPid && alive(this.containerdPid) ? undefined : true))
        .catch((error: Error) => problems.push(error.message));
    }
    for (const client of this.clients) await exited(client);
    // Emptied cgroups may stay busy for a moment after their last task died.
    let cgroupProblems = removeCgroups(this.prefix);
    for (let attempt = 0; cgroupProblems.length > 0 && attempt < 20; attempt++) {
      await sleep(100);
      cgroupProblems = removeCgroups(this.prefix);
    }
    problems.push(...cgroupProblems);
    if (this.netnsCreated) {
      const done = await exec(['ip', 'netns', 'del', this.netns]);
      if (done.code !== 0) problems.push(`ip netns del ${this.netns}: ${done.stderr.trim()}`);
    }
    try {
      fs.rmSync(this.work, { recursive: true, force: true });
    } catch (error) {
      problems.push(`rm -rf ${this.work}: ${(error as Error).message}`);
    }
    return problems;
  }

  /** Anything of this run still visible from the machine's namespaces. */
  leftovers(): string[] {
    const found: string[] = [];
    const netns = spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' }).stdout;
    if (netns.includes(this.prefix)) found.push(`netns: ${netns.trim()}`);
    const links = spawnSync('ip', ['-o', 'link', 'show'], { encoding: 'utf8' }).stdout;
    if (links.includes(this.prefix)) found.push(`links: ${links.trim()}`);
    for (const line of readOr('/proc/self/mountinfo', '').split('\n')) if (line.includes(this.prefix)) found.push(`mount: ${line}`);
    for (const pid of fs.readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
      const cmdline = readOr(`/proc/${pid}/cmdline`, '').replaceAll('\0', ' ');
      if (cmdline.includes(this.prefix)) found.push(`process ${pid}: ${cmdline}`);
    }
    for (const dir of cgroupDirs(this.prefix)) found.push(`cgroup: ${dir}`);
    if (fs.existsSync(this.work)) found.push(`dir: ${this.work}`);
    return found;
  }
}

/** Where runc put our containers' cgroups: ctr's default cgroupsPath is /<namespace>/<id>. */
function cgroupDirs(name: string): string[] {
  const roots = ['/sys/fs/cgroup', ...readdirOr('/sys/fs/cgroup').map((c) => path.join('/sys/fs/cgroup', c))];
  return roots.map((root) => path.join(root, name)).filter((dir) => fs.existsSync(dir));
}

function readdirOr(dir: string): string[] {
  try {
    return fs.readdirSync(dir);
  } catch {
    return [];
  }
}

/** Removes cgroup directories depth-first (rmdir only: a cgroup with processes stays and is reported). */
function removeCgroups(name: string): string[] {
  const problems: string[] = [];
  const remove = (dir: string): void => {
    for (const entry of fs.readdirSync(dir, { withFileTypes: true })) if (entry.isDirectory()) remove(path.join(dir, entry.name));
    try {
      fs.rmdirSync(dir);
    } catch (error) {
      problems.push(`rmdir ${dir}: ${(error as Error).message}`);
    }
  };
  for (const dir of cgroupDirs(name)) remove(dir);
  return problems;
}

/**
 * Removes what earlier runs left when they were killed before their cleanup (a runner killed on a
 * timeout or by a closed pipe; pdeathsig has already taken their processes): the temp dirs whose
 * owner process is gone, with their node netns and cgroups. Runs of other live processes,
 * including concurrent ones, are left alone.
 */
export function sweepDeadRuns(): string[] {
  const swept: string[] = [];
  for (const name of readdirOr(os.tmpdir())) {
    const prefix = /^(bwctr[0-9a-f]{6})-/.exec(name)?.[1];
    if (!prefix) continue;
    const dir = path.join(os.tmpdir(), name);
    const owner = Number(readOr(path.join(dir, 'owner'), '').trim());
    if (!owner || fs.existsSync(`/proc/${owner}`)) continue;
    removeCgroups(prefix);
    spawnSync('ip', ['netns', 'del', `${prefix}-node`], { stdio: 'ignore' });
    fs.rmSync(dir, { recursive: true, force: true });
    swept.push(prefix);
  }
  return swept;
}

/** What the machine paths we hide look like, to prove we did not touch them. */
/**
 * Stops the node and checks what it left: its own leftovers and any change to the machine's
 * paths. After a failed test they are a diagnostic (the failure is what matters); after a passing
 * one they fail it.
 */
export async function destroyAndCheck(node: ContainerdNode, machineBefore: string, failed: boolean, t: { diagnostic(message: string): void }): Promise<void> {
  const problems = [...(await node.destroy()), ...node.leftovers()];
  const machineAfter = snapshotMachinePaths();
  if (machineAfter !== machineBefore) problems.push(`machine paths changed:\n${machineBefore}\n->\n${machineAfter}`);
  if (problems.length > 0) {
    if (failed) t.diagnostic(`cleanup: ${problems.join('\n')}`);
    else assert.fail(`cleanup left traces:\n${problems.join('\n')}`);
  }
}

export function snapshotMachinePaths(): string {
  return MACHINE_PATHS.map((p) => `${p}: ${fs.existsSync(p) ? readdirOr(p).sort().join(',') : '(absent)'}`).join('\n');
}
