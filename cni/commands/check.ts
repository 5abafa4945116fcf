// CHECK: is the pod's network still what the ADD result (prevResult) says? Extra routes that
// later plugins added are fine; anything of ours missing or different is an error naming it,
// the host veth's hairpin mode and the pod's anti-spoofing elements (when the network has
// antiSpoofing on) included: each of them must be there, and its port must have no element that
// is not its own.
import { formatCidr, parseCidr } from '../../lib/cidr.ts';
import type { SysctlChange } from '../../lib/kernel/change.ts';
import type { KernelLink } from '../../lib/kernel/link.ts';
import type { KernelRoute } from '../../lib/kernel/route.ts';
import { CniError, ErrorCode } from '../errors.ts';
import { ipamFor } from '../ipam/index.ts';
import { requireNetns } from '../netns.ts';
import { podElements, podSysctls } from '../plan.ts';
import { elementId } from '../../lib/antispoof/nft-json.ts';
import { renderElements } from '../../lib/antispoof/nft-text.ts';
import { antispoofRuleset, type Element } from '../../lib/antispoof/ruleset.ts';
import { parsePrevResult, type Result } from '../result.ts';
import type { CommandContext } from '../skel.ts';
import { compareVersions } from '../../lib/cni-version.ts';
import { describeChange } from '../../lib/iproute2/change-command.ts';
import { hostVethAlias, hostVethName } from '../../lib/names.ts';

export function failed(message: string): CniError {
  return new CniError(ErrorCode.CheckFailed, `CHECK failed: ${message}`);
}

export function cmdCheck(ctx: CommandContext): Promise<void> {
  return checkAttachment(ctx, checkHostVeth);
}

/**
 * The checks of every bridge type; `checkHost` judges the host veth, which is a Linux bridge's
 * port here and an Open vSwitch port's interface in cni/ovs/check.ts.
 */
export async function checkAttachment(ctx: CommandContext, checkHost: (ctx: CommandContext, link: KernelLink | undefined) => void, options: { nftGuard?: boolean } = {}): Promise<void> {
  const { args, conf, run, kernel } = ctx;
  if (compareVersions(conf.cniVersion, '0.4.0') < 0) {
    throw new CniError(ErrorCode.IncompatibleVersion, `CHECK needs cniVersion 0.4.0 or later, the config says ${conf.cniVersion}`);
  }
  const prev = parsePrevResult(conf.prevResult);
  if (!prev) throw new CniError(ErrorCode.InvalidNetworkConfig, 'CHECK needs prevResult (the ADD result) in the config');
  requireNetns(args.netns);

  const podIfIndex = prev.interfaces.findIndex((i) => i.name === args.ifname && (!i.sandbox || i.sandbox === args.netns));
  if (podIfIndex < 0) throw failed(`prevResult has no interface ${args.ifname} in ${args.netns}`);
  const addresses = prev.ips.filter((ip) => ip.interface === undefined || ip.interface === podIfIndex);
  const ipv6 = [...prev.ips.map((ip) => ip.address), ...prev.routes.map((r) => r.dst)].some((text) => text.includes(':'));
  const sysctls = podSysctls(conf, args.ifname);
  // The pod's and the node's side are independent reads (with iproute2: processes run at once).
  const port = hostVethName(args.containerId, args.ifname);
  const [{ links, routes }, hostVeth, values, guards] = await Promise.all([
    kernel.readNamespace(args.netns, { ipv6 }),
    kernel.getLink(port),
    kernel.readSysctls(sysctls.map((s) => s.key), args.netns),
    // Open vSwitch guards its ports with OpenFlow flows instead (cni/ovs/check.ts checks those).
    conf.antiSpoofing && options.nftGuard !== false ? kernel.listGuards() : undefined,
  ]);
  checkPodInterface(links, prev, podIfIndex, args.ifname, addresses.map((a) => a.address));
  checkRoutes(routes, prev);
  checkSysctls(sysctls, values);
  checkHost(ctx, hostVeth);
  if (guards) checkGuard(port, addresses.map((a) => a.address), guards);
  const ipam = ipamFor(conf, args, { run, store: ctx.store });
  for (const { address } of addresses) {
    const cidr = parseCidr(address);
    if (cidr) await ipam.check(cidr);
  }
}

/**
 * The pod still refuses router advertisements and redirects, and (antiSpoofing) still derives its
 * link-local address from its MAC, as ADD left it (cni/plan.ts says why).
 */
function checkSysctls(wanted: readonly SysctlChange[], values: Map<string, string | undefined>): void {
  for (const { key, value, tolerate } of wanted) {
    const actual = values.get(key);
    if (actual === undefined ? tolerate !== 'missing' : actual !== value) {
      throw failed(`the pod's ${key.replaceAll('/', '.')} is ${actual ?? 'missing'}, expected ${value}`);
    }
  }
}

/** Addresses compared in canonical form: the runtime may hand back any spelling of ours. */
function canonical(text: string): string {
  const cidr = parseCidr(text);
  return cidr ? formatCidr(cidr) : text;
}

function checkPodInterface(links: KernelLink[], prev: Result, index: number, ifname: string, addresses: string[]): void {
  const link = links.find((l) => l.name === ifname);
  if (!link) throw failed(`interface ${ifname} is missing from the pod's netns`);
  const expectedMac = prev.interfaces[index]?.mac;
  if (expectedMac && link.mac?.toLowerCase() !== expectedMac.toLowerCase()) {
    throw failed(`interface ${ifname} has MAC ${link.mac}, expected ${expectedMac}`);
  }
  if (!link.flags.includes('UP')) throw failed(`interface ${ifname} is down`);
  const present = new Set((link.addresses ?? []).map(formatCidr));
  for (const address of addresses) {
    if (!present.has(canonical(address))) throw failed(`interface ${ifname} lacks address ${address} (has ${[...present].join(', ') || 'none'})`);
  }
}

/** A route dst in canonical form: a CIDR, host routes as /32 or /128. */
function normalizeDst(dst: string): string {
  return canonical(dst.includes('/') ? dst : `${dst}/${dst.includes(':') ? 128 : 32}`);
}

/** A gateway in canonical form, so fd00:0::1 and fd00::1 are the same. */
function normalizeGw(gw: string | undefined): string | undefined {
  return gw === undefined ? undefined : normalizeDst(gw);
}

function checkRoutes(routes: KernelRoute[], prev: Result): void {
  for (const want of prev.routes) {
    const dst = normalizeDst(want.dst);
    const found = routes.some((r) => normalizeDst(r.dst) === dst && (!want.gw || normalizeGw(r.gateway) === normalizeGw(want.gw)));
    if (!found) throw failed(`route to ${want.dst}${want.gw ? ` via ${want.gw}` : ''} is missing from the pod's netns`);
  }
}

/**
 * The pod's port has exactly the elements ADD gave it (cni/plan.ts podElements, from the result's
 * addresses as DEL derives them too), each named in nft's spelling when it is not so. A missing
 * one means the pod is unprotected (guarded_ports gone) or cut off (its MAC or an address gone);
 * one that is not its own (an address added for its port by hand, or left by an older ADD of
 * another address) lets the pod send as that address, and DEL would leave it behind.
 */
function checkGuard(port: string, addresses: readonly string[], guards: ReadonlyMap<string, readonly Element[]>): void {
  const ips = addresses.flatMap((text) => {
    const cidr = parseCidr(text);
    return cidr ? [{ family: cidr.family, value: cidr.address }] : [];
  });
  const wanted = podElements(port, ips);
  const present = guards.get(port) ?? [];
  const [presentIds, wantedIds] = [new Set(present.map(elementId)), new Set(wanted.map(elementId))];
  const missing = wanted.filter((e) => !presentIds.has(elementId(e)));
  const foreign = present.filter((e) => !wantedIds.has(elementId(e)));
  const count = (n: number) => `${n} anti-spoofing element${n === 1 ? '' : 's'}`;
  const problems = [
    ...(missing.length > 0 ? [`lacks ${count(missing.length)}: ${nftSpelling(missing)}`] : []),
    ...(foreign.length > 0 ? [`has ${count(foreign.length)} that ${foreign.length === 1 ? 'is' : 'are'} not its own (its pod may send as ${foreign.length === 1 ? 'it' : 'them'}): ${nftSpelling(foreign)}`] : []),
  ];
  if (problems.length > 0) throw failed(`host veth ${port} ${problems.join('; and it ')}`);
}

/** `port_ipv4 { "bw…" . 10.0.0.2 }; …`: elements as an admin finds them in `nft list`. */
function nftSpelling(elements: readonly Element[]): string {
  return renderElements(antispoofRuleset(), 'add', elements).trim().split('\n').map((line) => line.replace(/^add element bridge \S+ /, '')).join('; ');
}

function checkHostVeth(ctx: CommandContext, link: KernelLink | undefined): void {
  const name = hostVethName(ctx.args.containerId, ctx.args.ifname);
  if (!link) throw failed(`host veth ${name} is missing`);
  if (link.master !== ctx.conf.bridge) throw failed(`host veth ${name} is attached to ${link.master ?? 'no bridge'}, expected ${ctx.conf.bridge}`);
  // No alias: made by a version before aliases; any other alias: not this network's veth.
  const alias = hostVethAlias(ctx.conf.name, ctx.args.containerId, ctx.args.ifname);
  if (link.alias && link.alias !== alias) throw failed(`host veth ${name} has alias ${link.alias}, expected ${alias}`);
  checkHairpin(name, link.hairpin, ctx.conf.hairpinMode);
}

/**
 * The port's hairpin mode is what the config says. Off where it should be on, the pod gets no
 * answer when it connects to a Service whose backend it is itself (a pod made before hairpin was
 * the default, or a port changed behind our back): recreating the pod fixes it, as the `ip`
 * command named in the message does at once.
 */
function checkHairpin(name: string, actual: boolean | undefined, wanted: boolean): void {
  if (actual === wanted) return;
  const config = `"hairpinMode": ${wanted}${wanted ? ' (the default)' : ''}`;
  const state = actual === undefined ? 'no hairpin mode the kernel reported' : `hairpin ${actual ? 'on' : 'off'}`;
  const consequence = wanted ? ': the pod cannot reach itself through a Service' : '';
  const fix = describeChange({ op: 'set-hairpin', link: name, on: wanted });
  throw failed(`host veth ${name} has ${state}, the config says ${config}${consequence}; recreate the pod, or run: ip ${fix}`);
}
