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
}

/** IPv4 routes of the main table. `ip -j` reports dst "default" and host routes without /32. */
export async function listRoutes(run: Runner, options: { netns?: string } = {}): Promise<KernelRoute[]> {
  const { stdout } = await run(inNetns(options.netns, ['ip', '-4', '-j', 'route', 'show', 'table', 'main']));
  return parseRoutes(JSON.parse(stdout || '[]'));
}

/** `ip -j route show` output as data, with "default" and host routes as CIDRs. */
export function parseRoutes(json: unknown[]): KernelRoute[] {
  return (json as KernelRoute[]).map((r) => ({
    ...r,
    dst: r.dst === 'default' ? '0.0.0.0/0' : r.dst.includes('/') ? r.dst : `${r.dst}/32`,
  }));
}

