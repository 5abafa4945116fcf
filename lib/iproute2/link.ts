// Links as iproute2 reports them with `-j`, and the idempotent verbs we need on them.
import { CommandError, type Runner } from '../exec.ts';
import { isMissingError, runIpBatch } from './batch.ts';
import { inNetns } from './netns.ts';

export interface IpAddrInfo {
  family: 'inet' | 'inet6';
  local: string;
  prefixlen: number;
}

export interface IpLink {
  ifindex: number;
  ifname: string;
  address?: string;
  mtu?: number;
  master?: string;
  flags?: string[];
  operstate?: string;
  /** The link's alias (IFLA_IFALIAS), when set. */
  ifalias?: string;
  linkinfo?: { info_kind?: string; info_slave_kind?: string; info_slave_data?: { hairpin?: boolean } };
  addr_info?: IpAddrInfo[];
}

/** Deletes a link; a link that is already gone counts as deleted. */
export async function deleteLink(run: Runner, name: string, options: { netns?: string } = {}): Promise<void> {
  await runIpBatch(run, [{ args: ['link', 'del', name], tolerate: 'missing' }], options);
}

/** Deletes a link; resolves true when it existed, false when it was already gone. */
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
export async function listLinksOfType(run: Runner, type: string, options: { netns?: string } = {}): Promise<IpLink[]> {
  const { stdout } = await run(inNetns(options.netns, ['ip', '-j', 'link', 'show', 'type', type]));
  return JSON.parse(stdout || '[]') as IpLink[];
}

/** One link by name, or undefined when there is no such link. */
export async function getLink(run: Runner, name: string, options: { netns?: string } = {}): Promise<IpLink | undefined> {
  try {
    const { stdout } = await run(inNetns(options.netns, ['ip', '-d', '-j', 'link', 'show', 'dev', name]));
    return (JSON.parse(stdout) as IpLink[])[0];
  } catch (error) {
    if (error instanceof CommandError && isMissingError(error.stderr)) return undefined;
    throw error;
  }
}
