// Run by Bun (node_modules/.bin/bun) for host-network.test.ts: the agent's rtnetlink path
// (daemonset/host/network.ts netlinkNetwork), as the Bun executable takes it, on one namespace.
// argv: the namespace's path, then operations: `read`, or `change` followed by a JSON list of
// RouteChange. Prints one JSON line per operation: the read, or {ok} / {error, failures}.
import { netlinkNetwork } from '../../daemonset/host/network.ts';
import type { RouteChange } from '../../daemonset/routes/plan.ts';
import { KernelChangeError } from '../../lib/kernel/errors.ts';
import { loadLibc, NETLINK_ROUTE, NetlinkSocket } from '../../lib/netlink/socket.ts';

const [netnsPath, ...operations] = process.argv.slice(2);
const libc = loadLibc();
if (!libc) throw new Error('no FFI: run this with Bun');
const network = netlinkNetwork(() => NetlinkSocket.open(libc, NETLINK_ROUTE, netnsPath));
const bigints = (_key: string, value: unknown) => (typeof value === 'bigint' ? value.toString() : value);
for (let i = 0; i < operations.length; i++) {
  const operation = operations[i];
  if (operation === 'read') {
    console.log(JSON.stringify(await network.read(), bigints));
  } else if (operation === 'change') {
    const changes = JSON.parse(operations[++i]!) as RouteChange[];
    try {
      await network.changeRoutes(changes);
      console.log(JSON.stringify({ ok: true }));
    } catch (error) {
      if (!(error instanceof KernelChangeError)) throw error;
      console.log(JSON.stringify({ error: error.message, failures: error.failures }));
    }
  } else throw new Error(`unknown operation ${operation}`);
}
