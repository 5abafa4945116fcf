// Reads what the uplink planner needs, with iproute2: `ip -j -d addr show` (every link with its
// details and addresses) and each family's main table. Three processes, run only when a move or a
// release is due (the plugin's every-ADD check reads over its Kernel instead: cni/uplink.ts).
import type { Runner } from '../exec.ts';
import { parseLinks, parseRoutes, type UplinkState } from './state.ts';

export async function readUplinkState(run: Runner): Promise<UplinkState> {
  const json = async (argv: string[]) => JSON.parse((await run(argv)).stdout || '[]') as unknown[];
  const links = parseLinks(await json(['ip', '-j', '-d', 'addr', 'show']));
  const routes = [
    ...parseRoutes(await json(['ip', '-4', '-j', 'route', 'show', 'table', 'main']), 4),
    ...parseRoutes(await json(['ip', '-6', '-j', 'route', 'show', 'table', 'main']), 6),
  ];
  return { links, routes };
}
