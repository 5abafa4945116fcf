// The Kernel through iproute2 processes: each apply() is one `ip -batch` (inside the namespace
// through nsenter), its queries read back in the same process. The plugin uses it where the
// in-process one cannot run (the bundle on Node); test/unit/lib/iproute2/kernel.test.ts pins it.
import type { Runner } from '../exec.ts';
import type { Kernel } from '../kernel/kernel.ts';
import { queryIpJson, runIpBatch } from './batch.ts';
import { toIpCommand } from './change-command.ts';
import { deleteLinkIfPresent, deleteLinksIfPresent, getLink, listLinksOfType, parseLinks } from './link.ts';
import { listMainRoutes, parseRoutes } from './route.ts';

export function iproute2Kernel(run: Runner): Kernel {
  return {
    async apply(changes, queries = [], netns) {
      const documents = await runIpBatch(run, [...changes, ...queries].map(toIpCommand), { netns });
      // Changes print nothing: the documents are the queries' answers, in order.
      return documents.slice(documents.length - queries.length).map(parseLinks);
    },
    getLink: (name, netns) => getLink(run, name, { netns }),
    deleteLinkIfPresent: (name) => deleteLinkIfPresent(run, name),
    deleteLinksIfPresent: (names) => deleteLinksIfPresent(run, names),
    listLinks: (kind) => listLinksOfType(run, kind),
    async readNamespace(netns, { ipv6 }) {
      // `ip route show` lists IPv4 only and a batch line cannot say -6: IPv6 needs its own process.
      const [[links, routes], routes6] = await Promise.all([
        queryIpJson(run, [['addr', 'show'], ['route', 'show']], { netns }),
        ipv6 ? listMainRoutes(run, 6, { netns }) : Promise.resolve([]),
      ]);
      return { links: parseLinks(links!), routes: [...parseRoutes(routes!), ...routes6] };
    },
  };
}
