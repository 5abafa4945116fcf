// Routes as data: read with `ip -j`, changed in one `ip -batch`.
import type { Runner } from '../exec.ts';
import { inNetns } from './netns.ts';

export interface KernelRoute {
  dst: string;
  gateway?: string;
  dev?: string;
  protocol?: string;
  scope?: string;
  type?: string;
  /** Absent for the main table when read with `table all`. */
  table?: string;
}

/** IPv4 routes of the main table. `ip -j` reports dst "default" and host routes without /32. */
export async function listRoutes(run: Runner, options: { netns?: string } = {}): Promise<KernelRoute[]> {
  const { stdout } = await run(inNetns(options.netns, ['ip', '-4', '-j', 'route', 'show', 'table', 'main']));
  return parseRoutes(JSON.parse(stdout || '[]'));
}

/**
 * `ip -j route show` output as data, with "default" and host routes as CIDRs of their family.
 * An IPv6 route has an IPv6 destination or gateway, or (a default route via a device) `pref`.
 */
export function parseRoutes(json: unknown[]): KernelRoute[] {
  return (json as (KernelRoute & { pref?: string })[]).map((r) => {
    const v6 = r.dst.includes(':') || (r.gateway?.includes(':') ?? false) || r.pref !== undefined;
    return { ...r, dst: r.dst === 'default' ? (v6 ? '::/0' : '0.0.0.0/0') : r.dst.includes('/') ? r.dst : `${r.dst}/${v6 ? 128 : 32}` };
  });
}

/**
 * Both families' main table from one `ip -j route show table all` (the only `ip route` query
 * that is not IPv4-only without `-6`, which an `ip -batch` line cannot carry): main-table routes
 * are the ones without a "table" key.
 */
export function mainTableOf(all: unknown[]): KernelRoute[] {
  return parseRoutes((all as { table?: string }[]).filter((r) => r.table === undefined));
}

