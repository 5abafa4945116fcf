// routes/ip-batch.ts: the one `ip -batch` spelling of route changes, for the agent and the doctor.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { routeCommands } from '../../../../daemonset/routes/ip-batch.ts';
import { formatBatch } from '../../../../lib/iproute2/batch.ts';
import { ROUTE_PROTO } from '../../../../lib/names.ts';


describe('routeCommands: the one ip -batch spelling of route changes', () => {
  test('each change with our proto and what it tolerates', () => {
    const commands = routeCommands([
      { op: 'replace-route', dst: '10.244.2.0/24', via: '192.168.50.12', dev: 'eth1' },
      { op: 'add-route', dst: 'fd00:10:244:3::/64', via: 'fd00:50::13', dev: 'eth1' },
      { op: 'delete-route', dst: '10.244.4.0/24' },
    ]);
    assert.deepEqual(commands, [
      { args: ['route', 'replace', '10.244.2.0/24', 'via', '192.168.50.12', 'dev', 'eth1', 'proto', ROUTE_PROTO] },
      { args: ['route', 'add', 'fd00:10:244:3::/64', 'via', 'fd00:50::13', 'dev', 'eth1', 'proto', ROUTE_PROTO], tolerate: 'exists' },
      { args: ['route', 'del', '10.244.4.0/24', 'proto', ROUTE_PROTO], tolerate: 'missing' },
    ]);
    assert.equal(formatBatch(commands), `route replace 10.244.2.0/24 via 192.168.50.12 dev eth1 proto ${ROUTE_PROTO}\n`
      + `route add fd00:10:244:3::/64 via fd00:50::13 dev eth1 proto ${ROUTE_PROTO}\nroute del 10.244.4.0/24 proto ${ROUTE_PROTO}\n`);
  });
});

