// The Kernel through iproute2 processes: each apply() is one `ip -batch` (inside the namespace
// through nsenter), its queries read back in the same process. The plugin uses it where the
// in-process one cannot run (on Node, e.g. under the unit tests' fake runner).
import type { Runner } from '../exec.ts';
import { inNetns } from './netns.ts';
import { queryIpJson, runIpBatch } from './batch.ts';
import { deleteLinkIfPresent, getLink, listLinksOfType, type IpLink } from './link.ts';
import { parseRoutes, type KernelRoute } from './route.ts';
import { toIpCommand } from './change-command.ts';
import type { Kernel } from '../kernel/kernel.ts';

export function iproute2Kernel(run: Runner): Kernel {
  return {
    async apply(changes, queries = [], netns) {
      const documents = await runIpBatch(run, [...changes, ...queries].map(toIpCommand), { netns });
      // Changes print nothing: the documents are the queries' answers, in order.
      return documents.slice(documents.length - queries.length) as IpLink[][];
    },
    getLink: (name, netns) => getLink(run, name, { netns }),
    deleteLink: (name) => deleteLinkIfPresent(run, name),
    async removeLinks(names) {
      await runIpBatch(run, names.map((link) => toIpCommand({ op: 'delete-link', link })));
    },
    listLinks: (kind) => listLinksOfType(run, kind),
    async readNamespace(netns, { ipv6 }) {
      // `ip route show` lists IPv4 only and a batch line cannot say -6: IPv6 needs its own process.
      const [[links, routes], routes6] = await Promise.all([
        queryIpJson(run, [['addr', 'show'], ['route', 'show']], { netns }) as Promise<[IpLink[], unknown[]]>,
        ipv6 ? listIpv6Routes(run, netns) : Promise.resolve([]),
      ]);
      return { links, routes: [...parseRoutes(routes), ...routes6] };
    },
  };
}

/** The IPv6 main table, dst as CIDRs ("default" is ::/0, host routes /128). */
async function listIpv6Routes(run: Runner, netns: string): Promise<KernelRoute[]> {
  const { stdout } = await run(inNetns(netns, ['ip', '-6', '-j', 'route', 'show', 'table', 'main']));
  return parseRoutes(JSON.parse(stdout || '[]'));
}
