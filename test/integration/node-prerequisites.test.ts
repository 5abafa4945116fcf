// Node prerequisites the unprivileged agent cannot set (issue 18, part 3): br_netfilter's switch
// of each family. The real agent in a simulated dual-stack node's namespace; the sysctl is
// flipped in that namespace only (br_netfilter's sysctls are per network namespace on this kernel,
// which the test checks against the root namespace's value); /readyz, /metrics and the doctor must
// say so at once, without waiting for a sync (the agent's resync is 10 minutes here).
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { skipUnlessAgent } from './harness.ts';
import { AGENT, eventually, withCluster, type SimNode } from '../support/cluster.ts';
import { createRunner } from '../../lib/exec.ts';

const run = createRunner();
const KEY = { 4: 'net.bridge.bridge-nf-call-iptables', 6: 'net.bridge.bridge-nf-call-ip6tables' } as const;
const rootValue = (family: 4 | 6) => fs.readFileSync(`/proc/sys/${KEY[family].replaceAll('.', '/')}`, 'utf8').trim();

describe('node prerequisites: br_netfilter', { skip: skipUnlessAgent }, () => {
  test('turned off in the node: /readyz detail and /metrics say so at once, the doctor FAILs it with the fix; turned on: gone', () =>
    withCluster(1, async (cluster) => {
      const [a] = cluster.nodes as [SimNode];
      const rootBefore = { 4: rootValue(4), 6: rootValue(6) };
      const setInNode = (family: 4 | 6, value: 0 | 1) => a.exec(['sysctl', '-q', '-w', `${KEY[family]}=${value}`]);
      const doctor = async () => {
        const result = await run(['nsenter', `--net=${a.path}`, '--', AGENT, 'doctor', ...cluster.agentArgs(a)]).then(
          (r) => ({ code: 0, stdout: r.stdout }), (e: { exitCode: number; stdout: string }) => ({ code: e.exitCode, stdout: e.stdout }));
        return { ...result, line: (key: string) => result.stdout.split('\n').find((l) => l.includes(` ${key}: `)) ?? '' };
      };
      try {
        for (const family of [4, 6] as const) await setInNode(family, 1);
        cluster.startAgent(a, ['--resync', '10m']);
        await eventually(async () => (await cluster.health(a, '/readyz')).status === 200, 20_000, 'ready');
        assert.doesNotMatch((await cluster.health(a, '/readyz')).body, /node prerequisite/);
        const syncs = await cluster.syncs(a);

        for (const family of [4, 6] as const) {
          await setInNode(family, 0);
          assert.equal(rootValue(family), rootBefore[family], 'the root namespace keeps its own value');
          const ready = await cluster.health(a, '/readyz');
          assert.equal(ready.status, 200, 'routes, rules and the conflist are in place: still ready');
          assert.match(ready.body, new RegExp(`^node prerequisite ${KEY[family].replaceAll('.', '\\.')}: 0: pod-to-pod traffic on this node's bridge bypasses ip${family === 6 ? '6' : ''}tables: a Service whose client and backend pods share this node gets no answer .* fix: sysctl -w ${KEY[family].replaceAll('.', '\\.')}=1, persisted in /etc/sysctl\\.d/$`, 'm'));
          const metrics = (await cluster.health(a, '/metrics')).body;
          assert.match(metrics, new RegExp(`^bridgeway_node_sysctl_ok\\{sysctl="${KEY[family].replaceAll('.', '\\.')}"\\} 0$`, 'm'));
          const checked = await doctor();
          assert.equal(checked.code, 1, checked.stdout);
          assert.match(checked.line(KEY[family]), new RegExp(`^FAIL ${KEY[family].replaceAll('.', '\\.')}: 0: .*a Service whose client and backend pods share this node gets no answer.*  fix: sysctl -w ${KEY[family].replaceAll('.', '\\.')}=1`));
          await setInNode(family, 1);
        }
        assert.equal(await cluster.syncs(a), syncs, 'no sync ran in between: /readyz and /metrics read the sysctls when served');

        const healthy = await cluster.health(a, '/readyz');
        assert.doesNotMatch(healthy.body, /node prerequisite/);
        assert.match((await cluster.health(a, '/metrics')).body, /^bridgeway_node_sysctl_ok\{sysctl="net\.bridge\.bridge-nf-call-ip6tables"\} 1$/m);
        const again = await doctor();
        assert.equal(again.code, 0, again.stdout);
        assert.match(again.line(KEY[4]), /^OK   net\.bridge\.bridge-nf-call-iptables: 1$/);
        assert.match(again.line(KEY[6]), /^OK   net\.bridge\.bridge-nf-call-ip6tables: 1$/);
      } catch (error) {
        throw new Error(`${(error as Error).message}\nagent log:\n${a.agentLog}`, { cause: error });
      }
    }, { dualStack: true }));
});
