// Routes as data: read with `ip -j`, changed in one `ip -batch`.
import type { IpFamily } from '../cidr.ts';
import type { Runner } from '../exec.ts';
import type { KernelRoute } from '../kernel/route.ts';
import { inNetns } from './netns.ts';

type IpRouteJson = KernelRoute & { pref?: string; flags?: string[] };
/** What KernelRoute keeps of an `ip -j route` object besides dst (ip prints more: metric, flags, pref...). */
const KEPT = ['gateway', 'dev', 'protocol', 'scope', 'type', 'table'] as const;

/** One family's main table. `ip -j` reports dst "default" and host routes without /32 or /128. */
export async function listMainRoutes(run: Runner, family: IpFamily, options: { netns?: string; details?: boolean } = {}): Promise<KernelRoute[]> {
  const { stdout } = await run(inNetns(options.netns, ['ip', `-${family}`, '-j', 'route', 'show', 'table', 'main']));
  return parseRoutes(JSON.parse(stdout || '[]'), { details: options.details ?? false });
}

/**
 * `ip -j route show` output as data, with "default" and host routes as CIDRs of their family.
 * An IPv6 route has an IPv6 destination or gateway, or (a default route via a device) `pref`.
 */
export function parseRoutes(json: unknown[], options: { details?: boolean } = {}): KernelRoute[] {
  return (json as IpRouteJson[]).map((r) => {
    const v6 = r.dst.includes(':') || (r.gateway?.includes(':') ?? false) || r.pref !== undefined;
    const route: KernelRoute = { dst: r.dst === 'default' ? (v6 ? '::/0' : '0.0.0.0/0') : r.dst.includes('/') ? r.dst : `${r.dst}/${v6 ? 128 : 32}` };
    for (const key of KEPT) if (r[key] !== undefined) route[key] = r[key];
    // A detailed read (Kernel.readNamespace) keeps what the uplink move replays: metric, prefsrc, onlink.
    if (options.details) {
      if (r.metric !== undefined) route.metric = r.metric;
      if (r.prefsrc !== undefined) route.prefsrc = r.prefsrc;
      if (r.flags?.includes('onlink')) route.onlink = true;
    }
    return route;
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

