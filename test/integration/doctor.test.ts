// `bridgeway-agent doctor`, the real executable, on simulated nodes (test/support/cluster.ts): a
// healthy node passes, then each fault is injected in turn and undone, and the doctor must name
// it at its severity. The agents run with a 10-minute resync so they do not repair a fault
// before the doctor looks (a nodes-file change still reaches them at once).
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { skipUnlessAgent } from './harness.ts';
import { AGENT, eventually, withCluster, type SimCluster, type SimNode } from '../support/cluster.ts';
import { createRunner } from '../../lib/exec.ts';
import { withKubeAgent } from '../fixtures/kube-agent.ts';
import { makeNode, startFakeApiServer } from '../support/fake-apiserver.ts';
import { hostVethName } from '../../lib/names.ts';
import { renderElements, renderInstall } from '../../lib/antispoof/nft-text.ts';
import { antispoofRuleset } from '../../lib/antispoof/ruleset.ts';
import { podElements } from '../../cni/plan.ts';
import { parseIp } from '../../lib/cidr.ts';

const run = createRunner();

interface Finding {
  severity: 'OK' | 'WARN' | 'FAIL';
  check: string;
  object: string;
  detail: string;
  fix?: string;
}

interface Doctor {
  code: number;
  text: string;
  findings: Finding[];
}

/** Runs the doctor inside the node's namespace with the agent's own flags. */
async function doctor(cluster: SimCluster, node: SimNode, extra: string[] = [], args = cluster.agentArgs(node)): Promise<Doctor> {
  const result = await run(['nsenter', `--net=${node.path}`, '--', AGENT, 'doctor', '--json', ...args, ...extra]).then(
    (r) => ({ code: 0, stdout: r.stdout, stderr: r.stderr }),
    (e: { exitCode: number; stdout: string; stderr: string }) => ({ code: e.exitCode, stdout: e.stdout, stderr: e.stderr }),
  );
  assert.equal(result.stderr, '', 'nothing on stderr');
  const report = JSON.parse(result.stdout) as { findings: Finding[] };
  return { code: result.code, text: result.stdout, findings: report.findings };
}

const problems = (d: Doctor) => d.findings.filter((f) => f.severity !== 'OK');
const describeAll = (d: Doctor) => d.findings.map((f) => `${f.severity} ${f.object}: ${f.detail}`).join('\n');

/** The finding naming `object` must have `severity` (and its detail match). */
function expectFinding(d: Doctor, severity: Finding['severity'], object: string | RegExp, detail?: RegExp): Finding {
  const found = d.findings.find((f) => (typeof object === 'string' ? f.object === object : object.test(f.object)) && f.severity !== 'OK') ??
    d.findings.find((f) => (typeof object === 'string' ? f.object === object : object.test(f.object)));
  assert.ok(found, `no finding for ${object}:\n${describeAll(d)}`);
  assert.equal(found.severity, severity, `${found.object}: ${found.detail}`);
  if (detail) assert.match(found.detail, detail);
  if (severity !== 'OK') assert.ok(found.fix, 'a WARN or FAIL carries its fix');
  assert.equal(d.code, d.findings.some((f) => f.severity === 'FAIL') ? 1 : 0, 'exit 1 exactly when something FAILs');
  return found;
}

async function expectHealthy(cluster: SimCluster, node: SimNode, what: string) {
  const d = await doctor(cluster, node);
  assert.equal(d.code, 0, `${what}:\n${describeAll(d)}`);
  assert.deepEqual(problems(d).filter((f) => f.severity === 'FAIL'), [], what);
  return d;
}

describe('bridgeway-agent doctor on simulated nodes', { skip: skipUnlessAgent }, () => {
  test('healthy, then each fault in turn, named at its severity; --fix-leaks releases a leak', () =>
    withCluster(2, async (cluster) => {
      const [a, b] = cluster.nodes as [SimNode, SimNode];
      for (const node of [a, b]) cluster.startAgent(node, ['--resync', '10m']);
      for (const node of [a, b]) await eventually(async () => (await cluster.health(node, '/readyz')).status === 200, 20_000, `${node.name} ready`);
      const pod = await cluster.addPod(a);
      /** The pod's anti-spoofing elements, as its ADD added them (nft -f text). */
      const podGuard = (op: 'add' | 'delete') =>
        renderElements(antispoofRuleset(), op, podElements(pod.result.interfaces[1].name, [parseIp(pod.ip)!]));
      const route = `route ${b.podCIDR} via ${b.eth1IP} dev eth1`;
      const inA = (...argv: string[]) => a.exec(argv);

      const healthy = await expectHealthy(cluster, a, 'healthy node');
      expectFinding(healthy, 'OK', route, /proto 77 \(peer node-1\)/);
      expectFinding(healthy, 'OK', 'net.ipv4.ip_forward');
      expectFinding(healthy, 'OK', 'iptables-nft filter chain BRIDGEWAY-FORWARD', /complete/);
      expectFinding(healthy, 'OK', a.conflistPath + ' subnet');
      expectFinding(healthy, 'OK', path.join(a.binDir, 'bridgeway'), /the agent's build/);
      expectFinding(healthy, 'OK', path.join(a.dir, 'ipam', 'bridgeway'), /^1 reservation with a live host veth$/);
      expectFinding(healthy, 'OK', 'nftables table bridge bridgeway', /^present, with the elements of all 1 live attachment \(the plugin's default/);

      const faults: { name: string; inject: () => Promise<unknown>; undo: () => Promise<unknown>; severity: Finding['severity']; object: string | RegExp; detail: RegExp }[] = [
        {
          name: 'a route deleted',
          inject: () => inA('ip', 'route', 'del', b.podCIDR!),
          undo: () => inA('ip', 'route', 'add', b.podCIDR!, 'via', b.eth1IP, 'dev', 'eth1', 'proto', '77'),
          severity: 'FAIL', object: route, detail: /^missing/,
        },
        {
          name: 'a next hop changed',
          inject: () => inA('ip', 'route', 'replace', b.podCIDR!, 'via', '192.168.50.99', 'dev', 'eth1', 'proto', '77'),
          undo: () => inA('ip', 'route', 'replace', b.podCIDR!, 'via', b.eth1IP, 'dev', 'eth1', 'proto', '77'),
          severity: 'FAIL', object: route, detail: /wrong next hop: the kernel has via 192\.168\.50\.99/,
        },
        {
          name: 'a peer moved off the segment',
          inject: async () => {
            cluster.writeNodesFile([{ name: a.name, podCIDR: a.podCIDR, eth1IP: a.eth1IP }, { name: b.name, podCIDR: b.podCIDR, eth1IP: '172.30.0.5' }]);
            await eventually(async () => (await a.agentRoutes()).length === 0, 10_000, 'the agent drops the route');
          },
          undo: async () => {
            cluster.writeNodesFile();
            await eventually(async () => (await a.agentRoutes()).length === 1, 10_000, 'the route is back');
          },
          severity: 'FAIL', object: 'peer node-1', detail: /172\.30\.0\.5 .*is not on eth1's subnet 192\.168\.50\.10\/24/,
        },
        {
          name: 'rp_filter strict',
          inject: () => inA('sysctl', '-w', 'net.ipv4.conf.eth1.rp_filter=1'),
          undo: () => inA('sysctl', '-w', 'net.ipv4.conf.eth1.rp_filter=0'),
          severity: 'WARN', object: 'net.ipv4.conf.eth1.rp_filter', detail: /strict/,
        },
        {
          name: 'the FORWARD hook removed',
          inject: () => inA('iptables-nft', '-D', 'FORWARD', '-m', 'comment', '--comment', 'bridgeway: pod forwarding', '-j', 'BRIDGEWAY-FORWARD'),
          undo: () => inA('iptables-nft', '-I', 'FORWARD', '1', '-m', 'comment', '--comment', 'bridgeway: pod forwarding', '-j', 'BRIDGEWAY-FORWARD'),
          severity: 'FAIL', object: 'iptables-nft filter FORWARD -j BRIDGEWAY-FORWARD', detail: /the jump to BRIDGEWAY-FORWARD is missing/,
        },
        {
          name: 'the conflist missing',
          inject: async () => fs.renameSync(a.conflistPath, `${a.conflistPath}.away`),
          undo: async () => fs.renameSync(`${a.conflistPath}.away`, a.conflistPath),
          severity: 'FAIL', object: a.conflistPath, detail: /^missing/,
        },
        {
          // A pod ADDed before the protection existed (an upgrade) looks the same: a pod, no table.
          name: 'the anti-spoofing table gone',
          inject: () => inA('nft', 'delete', 'table', 'bridge', 'bridgeway'),
          undo: () => a.exec(['nft', '-f', '-'], a.path, renderInstall(antispoofRuleset()) + podGuard('add')),
          severity: 'FAIL', object: 'nftables table bridge bridgeway', detail: /^missing, while anti-spoofing is on \(the plugin's default, .*\): the 1 pod on this node started before the protection was installed/,
        },
        {
          // All the pod's elements deleted (as for a pod older than the table, after an upgrade): its
          // port is no longer guarded, so it works, unprotected.
          name: 'the pod\'s elements gone from the table',
          inject: () => a.exec(['nft', '-f', '-'], a.path, podGuard('delete')),
          undo: () => a.exec(['nft', '-f', '-'], a.path, podGuard('add')),
          severity: 'FAIL', object: /^port bw[0-9a-f]{12}$/, detail: /^unprotected: container .* started before the anti-spoofing table \(an upgrade\), .* it keeps working$/,
        },
        {
          name: 'eth1 down',
          inject: () => inA('ip', 'link', 'set', 'eth1', 'down'),
          // The kernel drops routes through a link that goes down: they come back with the agent's next sync.
          undo: async () => {
            await inA('ip', 'link', 'set', 'eth1', 'up');
            await inA('ip', 'route', 'add', b.podCIDR!, 'via', b.eth1IP, 'dev', 'eth1', 'proto', '77');
          },
          severity: 'FAIL', object: 'eth1', detail: /^down/,
        },
        {
          name: 'an MTU mismatch',
          inject: () => inA('ip', 'link', 'set', 'eth1', 'mtu', '1400'),
          undo: () => inA('ip', 'link', 'set', 'eth1', 'mtu', '1500'),
          severity: 'FAIL', object: 'eth1 mtu 1400 vs conflist mtu 1500', detail: /larger than eth1 carries/,
        },
      ];
      for (const fault of faults) {
        await fault.inject();
        const d = await doctor(cluster, a);
        try {
          expectFinding(d, fault.severity, fault.object, fault.detail);
        } catch (error) {
          throw new Error(`${fault.name}: ${(error as Error).message}`);
        }
        await fault.undo();
        await expectHealthy(cluster, a, `after undoing ${fault.name}`);
      }

      // A pod's netns deleted without CNI DEL: the kernel removes its veth pair, the address stays.
      const gone = await cluster.addPod(a);
      await run(['ip', 'netns', 'del', path.basename(gone.netns)]);
      a.podNetns.splice(a.podNetns.indexOf(gone.netns), 1);
      const containerId = `${a.name}-pod1`;
      // The kernel destroys a deleted namespace, and with it the veth pair, asynchronously.
      await eventually(async () => !(await a.ipJson(['link', 'show'])).some((l) => l.ifname === hostVethName(containerId, 'eth0')), 10_000, 'the veth gone');
      const leaked = await doctor(cluster, a);
      const leak = expectFinding(leaked, 'WARN', `address ${gone.ip}`, new RegExp(`container ${containerId} \\(eth0\\), whose host veth ${hostVethName(containerId, 'eth0')} is gone`));
      assert.match(leak.fix!, /--fix-leaks/);
      // Older than --fix-leaks' grace for an ADD in flight, as a pod deleted a while ago.
      const old = new Date(Date.now() - 60_000);
      fs.utimesSync(path.join(a.dir, 'ipam', 'bridgeway', 'ips', gone.ip), old, old);
      const fixed = await doctor(cluster, a, ['--fix-leaks']);
      expectFinding(fixed, 'OK', `address ${gone.ip}`, new RegExp(`^released \\(container ${containerId}, eth0`));
      assert.ok(!fs.existsSync(path.join(a.dir, 'ipam', 'bridgeway', 'ips', gone.ip)), 'the reservation is gone');
      const clean = await expectHealthy(cluster, a, 'after --fix-leaks');
      assert.ok(!clean.findings.some((f) => f.object === `address ${gone.ip}`), 'a second run finds no leak');
      expectFinding(clean, 'OK', path.join(a.dir, 'ipam', 'bridgeway'), /^1 reservation with a live host veth$/);

      // The agent stopped: the doctor says so, and drift stays unrepaired for it to see.
      await cluster.stopAgent(a);
      await inA('ip', 'route', 'del', b.podCIDR!);
      fs.rmSync(a.conflistPath);
      const stopped = await doctor(cluster, a);
      expectFinding(stopped, 'FAIL', 'agent http://127.0.0.1:9099/readyz', /not answering \(ECONNREFUSED\)/);
      expectFinding(stopped, 'FAIL', route, /^missing/);
      expectFinding(stopped, 'FAIL', a.conflistPath, /^missing/);

      // The text form: one line per finding, the fix on the same line, the summary last.
      const text = await run(['nsenter', `--net=${a.path}`, '--', AGENT, 'doctor', ...cluster.agentArgs(a)]).catch((e) => e);
      assert.equal(text.exitCode, 1);
      const lines = (text.stdout as string).trimEnd().split('\n');
      assert.ok(lines.includes(`FAIL ${route}: missing: pods on node-1 are unreachable  fix: the agent restores its routes on every sync: check that it runs (\`/readyz\`), or run \`bridgeway-agent --once\` with its flags; by hand: ip route add ${b.podCIDR} via ${b.eth1IP} dev eth1 proto 77`), text.stdout);
      assert.match(lines.at(-1)!, /^node-0 \(standalone mode\): \d+ OK, \d+ WARN, 3 FAIL$/);
    }));

  test('Kubernetes mode: the Node\'s podCIDR, the API server, RBAC by SelfSubjectAccessReview', () =>
    withCluster(2, async (cluster) => {
      const [a, b] = cluster.nodes as [SimNode, SimNode];
      const api = await startFakeApiServer([
        makeNode({ name: a.name, podCIDR: a.podCIDR, internalIP: a.eth1IP }),
        makeNode({ name: b.name, podCIDR: b.podCIDR, internalIP: b.eth1IP }),
      ]);
      // An explicit 1.1.0 (the runtime is not known yet): the mismatch case below needs it.
      await withKubeAgent(cluster, a, api, ['--cni-version', '1.1.0'], async (args) => {
        await eventually(async () => (await cluster.health(a, '/readyz')).status === 200, 20_000, 'agent ready');
        const d = await doctor(cluster, a, [], args);
        expectFinding(d, 'OK', `API server ${api.url}`, /^reachable$/);
        for (const access of ['list nodes', 'watch nodes', 'patch nodes', 'patch nodes/status', 'create events in default', 'list pods', 'watch namespaces', 'watch networkpolicies']) expectFinding(d, 'OK', `RBAC ${access}`, /^allowed$/);
        expectFinding(d, 'OK', 'node node-0 podCIDR', /^10\.244\.1\.0\/24$/);
        expectFinding(d, 'OK', `route ${b.podCIDR} via ${b.eth1IP} dev eth1`);
        const reviews = api.requests.filter((r) => r.path === '/apis/authorization.k8s.io/v1/selfsubjectaccessreviews');
        assert.deepEqual(reviews.map((r) => (r.body as any).spec.resourceAttributes).find((ra) => ra.resource === 'nodes' && ra.subresource === 'status'), { group: '', resource: 'nodes', verb: 'patch', subresource: 'status' });
        assert.deepEqual(reviews.map((r) => (r.body as any).spec.resourceAttributes).find((ra) => ra.resource === 'networkpolicies' && ra.verb === 'list'), { group: 'networking.k8s.io', resource: 'networkpolicies', verb: 'list' });

        api.denyAccess('patch nodes/status');
        expectFinding(await doctor(cluster, a, [], args), 'FAIL', 'RBAC patch nodes/status', /^denied/);

        api.modifyNode(a.name, (n) => {
          n.spec = {};
        });
        expectFinding(await doctor(cluster, a, [], args), 'FAIL', 'node node-0 podCIDR', /no podCIDR/);

        // A runtime that stops at CNI 1.0.0, and our conflist at 1.1.0.
        api.modifyNode(a.name, (n) => {
          n.spec = { podCIDR: a.podCIDR!, podCIDRs: [a.podCIDR!] };
          (n.status as any).nodeInfo = { containerRuntimeVersion: 'containerd://1.7.22' };
        });
        expectFinding(await doctor(cluster, a, [], args), 'FAIL', `${a.conflistPath} cniVersion`, /1\.1\.0, which containerd:\/\/1\.7\.22 does not speak/);

        await api.down();
        const down = await doctor(cluster, a, [], args);
        // Through the relay, a server that is down resets the connection the relay accepted.
        expectFinding(down, 'FAIL', `API server ${api.url}`, /unreachable: ECONN(REFUSED|RESET)/);
        expectFinding(down, 'FAIL', 'node list (the API server)', /ECONN(REFUSED|RESET)/);
      });
    }));
});
