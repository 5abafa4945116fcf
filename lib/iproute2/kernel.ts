// The Kernel through iproute2 processes: each apply() is one `ip -batch` (inside the namespace
// through nsenter), its queries read back in the same process; sysctls, which `ip` cannot set,
// one `tee` process more (sysctl.ts), in their place in the order of the changes. The plugin uses it where the
// in-process one cannot run (the bundle on Node); test/unit/lib/iproute2/kernel.test.ts pins it.
import type { Runner } from '../exec.ts';
import type { Kernel } from '../kernel/kernel.ts';
import { queryIpJson, runIpBatch } from './batch.ts';
import type { Change, SysctlChange } from '../kernel/change.ts';
import { toIpCommand, type IpChange } from './change-command.ts';
import { deleteLinkIfPresent, deleteLinksIfPresent, getLink, listLinksOfType, parseLinks } from './link.ts';
import { listMainRoutes, parseRoutes } from './route.ts';
import { readSysctls, writeSysctls } from './sysctl.ts';

export function iproute2Kernel(run: Runner): Kernel {
  return {
    async apply(changes, queries = [], netns) {
      // In order: a run of sysctls before a link is up must be written before the batch brings it up.
      const runs = splitRuns(changes);
      let documents: unknown[][] = [];
      for (const [index, part] of runs.entries()) {
        const last = index === runs.length - 1;
        if (part.kind === 'sysctl') await writeSysctls(run, part.changes, { netns });
        else documents = await runIpBatch(run, [...part.changes, ...(last ? queries : [])].map(toIpCommand), { netns });
      }
      if (runs.at(-1)?.kind !== 'ip' && queries.length > 0) documents = await runIpBatch(run, queries.map(toIpCommand), { netns });
      // Changes print nothing: the documents are the queries' answers, in order.
      return documents.slice(documents.length - queries.length).map(parseLinks);
    },
    getLink: (name, netns) => getLink(run, name, { netns }),
    deleteLinkIfPresent: (name) => deleteLinkIfPresent(run, name),
    deleteLinksIfPresent: (names) => deleteLinksIfPresent(run, names),
    listLinks: (kind) => listLinksOfType(run, kind),
    readSysctls: (keys, netns) => readSysctls(run, keys, { netns }),
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

type Run = { kind: 'ip'; changes: IpChange[] } | { kind: 'sysctl'; changes: SysctlChange[] };

/** The changes cut where they switch between `ip` lines and sysctls: one process per run. */
function splitRuns(changes: readonly Change[]): Run[] {
  const runs: Run[] = [];
  for (const change of changes) {
    const kind = change.op === 'set-sysctl' ? 'sysctl' : 'ip';
    const last = runs.at(-1);
    if (last?.kind === kind) (last.changes as Change[]).push(change);
    else runs.push(kind === 'sysctl' ? { kind, changes: [change as SysctlChange] } : { kind, changes: [change as IpChange] });
  }
  return runs;
}
