// Links as iproute2 reports them with `-j`, parsed into the kernel layer's KernelLink, and the
// idempotent verbs we need on them.
import { parseIp } from '../cidr.ts';
import { CommandError, type Runner } from '../exec.ts';
import type { KernelAddress, KernelLink } from '../kernel/link.ts';
import { isMissingError, runIpBatch } from './batch.ts';
import { inNetns } from './netns.ts';

/** The keys of an `ip -d -j link show` / `ip -j addr show` object that we read. */
interface IpLinkJson {
  ifindex: number;
  ifname: string;
  address?: string;
  mtu?: number;
  master?: string;
  flags?: string[];
  operstate?: string;
  ifalias?: string;
  linkinfo?: { info_kind?: string; info_data?: { mode?: string }; info_slave_kind?: string; info_slave_data?: { hairpin?: boolean } };
  addr_info?: IpAddrJson[];
}

/** An address as `ip -j addr show` prints it: its IFA_F_* flags as `true` keys, lifetimes in seconds. */
interface IpAddrJson {
  family: 'inet' | 'inet6';
  local: string;
  prefixlen: number;
  broadcast?: string;
  scope?: string;
  dynamic?: boolean;
  valid_life_time?: number;
  preferred_life_time?: number;
  [flag: string]: unknown;
}

/** The flags ip prints as keys, by the names rtnetlink's reader gives them (lib/netlink/rtnl-codec.ts). */
const ADDRESS_FLAGS = ['secondary', 'temporary', 'nodad', 'optimistic', 'dadfailed', 'home', 'deprecated', 'tentative', 'mngtmpaddr', 'noprefixroute', 'autojoin', 'stable-privacy'];
const FOREVER = 4294967295;

function parseAddress(a: IpAddrJson): KernelAddress[] {
  const ip = parseIp(a.local);
  if (!ip) return [];
  // ip says "dynamic" where the kernel has no IFA_F_PERMANENT.
  const flags = [...ADDRESS_FLAGS.filter((f) => a[f] === true), ...(a.dynamic ? [] : ['permanent'])];
  const address: KernelAddress = { family: ip.family, address: ip.value, prefixLength: a.prefixlen, flags };
  if (a.scope !== undefined) address.scope = a.scope;
  if (a.broadcast !== undefined) address.broadcast = a.broadcast;
  if (a.valid_life_time !== undefined && a.valid_life_time < FOREVER) address.validLft = a.valid_life_time;
  if (a.preferred_life_time !== undefined && a.preferred_life_time < FOREVER) address.preferredLft = a.preferred_life_time;
  return [address];
}

/** `ip -j link show` or `ip -j addr show` output as KernelLinks. */
export function parseLinks(json: unknown[]): KernelLink[] {
  return (json as IpLinkJson[]).map(parseLink);
}

function parseLink(l: IpLinkJson): KernelLink {
  const link: KernelLink = { index: l.ifindex, name: l.ifname, flags: l.flags ?? [] };
  if (l.address !== undefined) link.mac = l.address;
  if (l.mtu !== undefined) link.mtu = l.mtu;
  if (l.master !== undefined) link.master = l.master;
  if (l.operstate !== undefined) link.operState = l.operstate;
  if (l.ifalias !== undefined) link.alias = l.ifalias;
  if (l.linkinfo?.info_kind !== undefined) link.kind = l.linkinfo.info_kind;
  const mode = l.linkinfo?.info_kind === 'macvlan' ? l.linkinfo.info_data?.mode : undefined;
  if (mode === 'private' || mode === 'vepa' || mode === 'bridge' || mode === 'passthru') link.macvlanMode = mode;
  if (l.linkinfo?.info_slave_kind !== undefined) link.portKind = l.linkinfo.info_slave_kind;
  if (l.linkinfo?.info_slave_data?.hairpin !== undefined) link.hairpin = l.linkinfo.info_slave_data.hairpin;
  if (l.addr_info) link.addresses = l.addr_info.filter((a) => a.family === 'inet' || a.family === 'inet6').flatMap(parseAddress);
  return link;
}

/** Deletes links in one `ip -batch`; links that are already gone count as deleted. */
export async function deleteLinksIfPresent(run: Runner, names: readonly string[], options: { netns?: string } = {}): Promise<void> {
  await runIpBatch(run, names.map((name) => ({ args: ['link', 'del', name], tolerate: 'missing' as const })), options);
}

/** Deletes a link; resolves true when it was present, false when it was already gone. */
export async function deleteLinkIfPresent(run: Runner, name: string, options: { netns?: string } = {}): Promise<boolean> {
  try {
    await run(inNetns(options.netns, ['ip', 'link', 'del', 'dev', name]));
    return true;
  } catch (error) {
    if (error instanceof CommandError && isMissingError(error.stderr)) return false;
    throw error;
  }
}

/** Every link of one kind (e.g. "veth"), with aliases. */
export async function listLinksOfType(run: Runner, type: string, options: { netns?: string } = {}): Promise<KernelLink[]> {
  const { stdout } = await run(inNetns(options.netns, ['ip', '-j', 'link', 'show', 'type', type]));
  return parseLinks(JSON.parse(stdout || '[]'));
}

/** One link by name, or undefined when there is no such link. */
export async function getLink(run: Runner, name: string, options: { netns?: string } = {}): Promise<KernelLink | undefined> {
  try {
    const { stdout } = await run(inNetns(options.netns, ['ip', '-d', '-j', 'link', 'show', 'dev', name]));
    return parseLinks(JSON.parse(stdout))[0];
  } catch (error) {
    if (error instanceof CommandError && isMissingError(error.stderr)) return undefined;
    throw error;
  }
}
