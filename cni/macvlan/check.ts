// CHECK in macvlan mode: is the pod's network still what the ADD result (prevResult) says? The
// pod's interface is a macvlan in the configured mode with the result's MAC, up, with its
// addresses; the result's routes are there; the pod still refuses router advertisements and
// redirects; the master is still an interface of the node; IPAM still holds the addresses.
import { formatCidr, parseCidr } from '../../lib/cidr.ts';
import { CniError, ErrorCode } from '../errors.ts';
import { ipamFor } from '../ipam/index.ts';
import { requireNetns } from '../netns.ts';
import { podSysctls } from '../plan.ts';
import { parsePrevResult } from '../result.ts';
import type { CommandContext } from '../skel.ts';
import { compareVersions } from '../../lib/cni-version.ts';
import { resolveMaster } from './master.ts';

function failed(message: string): CniError {
  return new CniError(ErrorCode.CheckFailed, `CHECK failed: ${message}`);
}

function canonical(text: string): string {
  const cidr = parseCidr(text.includes('/') ? text : `${text}/${text.includes(':') ? 128 : 32}`);
  return cidr ? formatCidr(cidr) : text;
}

export async function macvlanCheck(ctx: CommandContext): Promise<void> {
  const { args, conf, run, kernel } = ctx;
  const macvlan = conf.macvlan!;
  if (compareVersions(conf.cniVersion, '0.4.0') < 0) {
    throw new CniError(ErrorCode.IncompatibleVersion, `CHECK needs cniVersion 0.4.0 or later, the config says ${conf.cniVersion}`);
  }
  const prev = parsePrevResult(conf.prevResult);
  if (!prev) throw new CniError(ErrorCode.InvalidNetworkConfig, 'CHECK needs prevResult (the ADD result) in the config');
  requireNetns(args.netns);
  const index = prev.interfaces.findIndex((i) => i.name === args.ifname && (!i.sandbox || i.sandbox === args.netns));
  if (index < 0) throw failed(`prevResult has no interface ${args.ifname} in ${args.netns}`);
  const addresses = prev.ips.filter((ip) => ip.interface === undefined || ip.interface === index).map((ip) => ip.address);
  const ipv6 = [...addresses, ...prev.routes.map((r) => r.dst)].some((text) => text.includes(':'));
  const sysctls = podSysctls({ antiSpoofing: false }, args.ifname);
  // The link on its own too: read with its details (kind, macvlan mode), which `ip addr` lacks.
  const [node, { links, routes }, details, values] = await Promise.all([
    kernel.readNamespace('', { ipv6: false }),
    kernel.readNamespace(args.netns, { ipv6 }),
    kernel.getLink(args.ifname, args.netns),
    kernel.readSysctls(sysctls.map((s) => s.key), args.netns),
  ]);
  try {
    resolveMaster(macvlan, node);
  } catch (error) {
    throw failed((error as Error).message);
  }
  const found = links.find((l) => l.name === args.ifname);
  if (!found || !details) throw failed(`interface ${args.ifname} is missing from the pod's netns`);
  const link = { ...found, ...details, addresses: found.addresses };
  if (link.kind !== 'macvlan') throw failed(`interface ${args.ifname} is a ${link.kind ?? 'link of no kind'}, expected a macvlan`);
  if (link.macvlanMode !== undefined && link.macvlanMode !== macvlan.mode) throw failed(`macvlan ${args.ifname} is in ${link.macvlanMode} mode, the config says ${macvlan.mode}`);
  const mac = prev.interfaces[index]?.mac;
  if (mac && link.mac?.toLowerCase() !== mac.toLowerCase()) throw failed(`interface ${args.ifname} has MAC ${link.mac}, expected ${mac}`);
  if (!link.flags.includes('UP')) throw failed(`interface ${args.ifname} is down`);
  const present = new Set((link.addresses ?? []).map(formatCidr));
  for (const address of addresses) {
    if (!present.has(canonical(address))) throw failed(`interface ${args.ifname} lacks address ${address} (has ${[...present].join(', ') || 'none'})`);
  }
  for (const want of prev.routes) {
    const found = routes.some((r) => canonical(r.dst === 'default' ? (want.dst.includes(':') ? '::/0' : '0.0.0.0/0') : r.dst) === canonical(want.dst) && (!want.gw || (r.gateway !== undefined && canonical(r.gateway) === canonical(want.gw))));
    if (!found) throw failed(`route to ${want.dst}${want.gw ? ` via ${want.gw}` : ''} is missing from the pod's netns`);
  }
  for (const { key, value, tolerate } of sysctls) {
    const actual = values.get(key);
    if (actual === undefined ? tolerate !== 'missing' : actual !== value) throw failed(`the pod's ${key.replaceAll('/', '.')} is ${actual ?? 'missing'}, expected ${value}`);
  }
  const ipam = ipamFor(conf, args, { run, store: ctx.store });
  for (const address of addresses) {
    const cidr = parseCidr(address);
    if (cidr) await ipam.check(cidr);
  }
}
