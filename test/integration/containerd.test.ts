// A real runtime drives the built plugin: containerd + runc through `ctr run --cni`, with the
// reference portmap chained after us, exactly as a node would run them, in a node of its own
// (containerd-node.ts, e2e/containerd/node.sh) that leaves no trace on the machine. The conflist
// is dual-stack with the plugin's defaults; a container also reaches itself through a
// kube-proxy-like Service (hairpin).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import {
  ContainerdNode, GATEWAY, GATEWAY6, NETWORK, PLUGIN, execOk, ipLinks, readOr, skipReason, sleep, snapshotMachinePaths, sweepDeadRuns, until, within,
} from './containerd-node.ts';
import { installKubeProxy } from '../support/kube-proxy.ts';

const skip = skipReason();

test('containerd + runc drive dist/bridgeway (ctr run --cni, portmap chained)', { timeout: 120_000 }, async (t) => {
  if (skip) {
    t.skip(skip);
    return;
  }
  assert.ok(fs.existsSync(PLUGIN), `${PLUGIN} is missing: run \`npm run build\` first (this test builds nothing)`);

  const swept = sweepDeadRuns();
  if (swept.length > 0) t.diagnostic(`removed what killed earlier runs left: ${swept.join(', ')}`);
  const machineBefore = snapshotMachinePaths();
  const rootLinksBefore = new Set((await ipLinks()).map((l) => l.ifname));
  const node = new ContainerdNode();
  let failed = false;
  try {
    await node.start();

    // Pod A prints its address and stays up; pod B checks the gateway and A, then exits.
    const podA = node.runPod('a', 'ip -o -4 addr show dev eth0 && exec sleep 60');
    const addressA = await until('pod a to print its address', 15_000, () => {
      if (podA.child.exitCode !== null) {
        throw new Error(`pod a exited early (${podA.child.exitCode}):\n${podA.output()}${podA.errors()}${node.diagnostics()}`);
      }
      return /inet (10\.99\.0\.\d+)\/24/.exec(podA.output())?.[1];
    });

    await t.test('pod a: eth0 has an address of the subnet, the reservation is on disk', async () => {
      assert.match(podA.output(), /^\d+: eth0\s+inet 10\.99\.0\.\d+\/24 /m);
      assert.deepEqual(node.reserved(), [addressA]);
      assert.equal(node.reserved(6).length, 1, 'and one of the IPv6 range (the conflist is dual-stack)');
      assert.deepEqual(node.cachedResults(), [`${NETWORK}-${node.containerId('a')}-eth0`], 'libcni caches the result in our private /var/lib/cni');
    });

    await t.test('the bridge and host veth are in the node netns, none of it in the root namespace', async () => {
      const nodeLinks = await node.links();
      const bridge = nodeLinks.find((l) => l.ifname === 'cni0');
      assert.ok(bridge, `no cni0 in ${node.netns}: ${nodeLinks.map((l) => l.ifname).join(', ')}`);
      assert.ok(bridge.addr_info?.some((a) => a.family === 'inet' && a.local === GATEWAY && a.prefixlen === 24), 'cni0 holds the gateway address');
      const ports = nodeLinks.filter((l) => l.master === 'cni0').map((l) => l.ifname);
      assert.equal(ports.length, 1, `one port on cni0 for pod a, got ${ports.join(', ')}`);
      assert.match(ports[0]!, /^bw[0-9a-f]{12}$/);

      const rootLinks = await ipLinks();
      const ours = new Set(['cni0', ...ports]);
      const leaked = rootLinks.filter((l) => ours.has(l.ifname) && !rootLinksBefore.has(l.ifname)).map((l) => l.ifname);
      assert.deepEqual(leaked, [], 'links of ours in the root namespace');
      assert.ok(!rootLinks.some((l) => l.addr_info?.some((a) => a.local === GATEWAY)), `${GATEWAY} appeared in the root namespace`);
    });

    await t.test('pod b: own address, reaches the gateway and pod a; released and unplugged when it exits', async (st) => {
      // The first echo request of a brand-new pod should get through. It once did not (1 run in
      // ~80, under heavy load, cause unknown), so a lost first request is reported, not fatal:
      // pod b then shows its side, stays up a moment so that we capture the node's, and must
      // get through within 3 more tries.
      const podB = node.runPod('b', [
        'ip -o -4 addr show dev eth0 || exit 1',
        `for target in ${GATEWAY} ${addressA}; do`,
        '  ping -c 1 -W 2 "$target" && continue',
        '  echo "FIRST-PING-LOST $target"; ip neigh; ip link show dev eth0; cat /proc/net/dev; sleep 1',
        '  ping -c 3 -W 2 "$target" || { echo "PING-FAILED $target"; exit 1; }',
        'done',
      ].join('\n'));
      let nodeState = '';
      const b = await within((async () => {
        while (!podB.output().includes('FIRST-PING-LOST') && podB.child.exitCode === null) await sleep(50);
        if (podB.output().includes('FIRST-PING-LOST')) nodeState = await node.networkState();
        return podB.done;
      })(), 30_000);
      assert.ok(b, `pod b did not finish in 30 s:\n${podB.output()}${node.diagnostics()}`);
      const report = `${b.stdout}\n${b.stderr}\n--- node netns when pod b lost its first ping\n${nodeState}${node.diagnostics()}`;
      assert.equal(b.code, 0, `pod b failed (${b.code ?? b.signal}):\n${report}`);
      if (nodeState) st.diagnostic(`pod b's first ping was lost (it got through on a retry):\n${report}`);
      const addressB = /inet (10\.99\.0\.\d+)\/24/.exec(b.stdout)?.[1];
      assert.ok(addressB && addressB !== addressA, `pod b got ${addressB}, pod a has ${addressA}`);
      assert.match(b.stdout, new RegExp(`from ${GATEWAY.replaceAll('.', '\\.')}`));
      assert.match(b.stdout, new RegExp(`from ${addressA.replaceAll('.', '\\.')}`));
      // ctr run --rm returns only after DEL (portmap then bridgeway) and the container's removal.
      assert.deepEqual(node.reserved(), [addressA], 'pod b\'s address is released');
      assert.equal(node.reserved(6).length, 1, 'pod b\'s IPv6 address too');
      const ports = (await node.links()).filter((l) => l.master === 'cni0');
      assert.equal(ports.length, 1, 'pod b\'s host veth is gone');
    });

    await t.test('hairpin (the plugin\'s default): a container reaches itself through a kube-proxy-like DNAT in its node, both families', async () => {
      // The container's server: busybox httpd on the Service's target port, its CGI printing the
      // address each connection came from.
      const podH = node.runPod('h', 'ip -o addr show dev eth0 scope global && exec httpd -f -p 8080 -h /www');
      const [h4, h6] = await until('pod h to print its addresses', 15_000, () => {
        if (podH.child.exitCode !== null) throw new Error(`pod h exited early (${podH.child.exitCode}):\n${podH.output()}${podH.errors()}${node.diagnostics()}`);
        const v4 = /inet (10\.99\.0\.\d+)\/24/.exec(podH.output())?.[1];
        const v6 = /inet6 (fd00:99::[0-9a-f:]+)\/64/.exec(podH.output())?.[1];
        return v4 && v6 ? [v4, v6] : undefined;
      });
      try {
        // The node as the agent and kube-proxy make it: forwarding on (without ip_forward this
        // kernel, 6.18, dropped the IPv4 hairpin; IPv6 went through), br_netfilter on, one
        // Service per family whose one endpoint is pod h.
        await execOk(['nsenter', `--net=/run/netns/${node.netns}`, '--', 'sysctl', '-q', '-w', 'net.ipv4.ip_forward=1', 'net.ipv6.conf.all.forwarding=1']);
        const service = { ipv4: '10.96.0.10', ipv6: 'fd00:96::10' };
        await installKubeProxy(`/run/netns/${node.netns}`, {
          ipv4: [{ name: 'H', clusterIp: service.ipv4, endpoint: h4 }],
          ipv6: [{ name: 'H', clusterIp: service.ipv6, endpoint: h6 }],
        });
        const probe = await node.execInPod('h', [service.ipv4, `[${service.ipv6}]`]
          .map((host) => `timeout 5 wget -q -O - http://${host}/cgi-bin/peer || echo "NO-ANSWER ${host}"`).join('\n'));
        // The answer came from the pod itself, to the node's address: the masquerade mark's doing.
        // (httpd listens on [::], so an IPv4 peer shows as ::ffff:<v4>.)
        assert.deepEqual(probe.stdout.trim().split('\n'), [`peer=[::ffff:${GATEWAY}]`, `peer=[${GATEWAY6}]`], `${probe.stdout}${probe.stderr}${node.diagnostics()}`);
      } finally {
        await execOk(node.ctrArgv(['task', 'kill', '--signal', 'SIGKILL', 'h']));
        const h = await within(podH.done, 20_000);
        assert.ok(h, `ctr run for pod h did not return within 20 s of the kill${node.diagnostics()}`);
      }
      assert.ok(!node.reserved().includes(h4) && node.reserved(6).length === 1, 'pod h\'s addresses are released (pod a keeps its own)');
    });

    await t.test('pod a stopped: its address is released, its host veth is gone, the bridge stays', async () => {
      await execOk(node.ctrArgv(['task', 'kill', '--signal', 'SIGKILL', 'a']));
      const a = await within(podA.done, 20_000);
      assert.ok(a, `ctr run for pod a did not return within 20 s of the kill${node.diagnostics()}`);
      assert.deepEqual([node.reserved(), node.reserved(6)], [[], []], 'no reservation left in ips/ and ipv6/ips/');
      assert.deepEqual(fs.readdirSync(path.join(node.store, 'attachments')), [], 'no attachment index left');
      assert.deepEqual(fs.readdirSync(path.join(node.store, 'ipv6/attachments')), [], 'no IPv6 attachment index left');
      assert.deepEqual(node.cachedResults(), [], 'libcni dropped its cached results');
      const nodeLinks = await node.links();
      assert.deepEqual(nodeLinks.filter((l) => l.master === 'cni0').map((l) => l.ifname), [], 'no veth left on cni0');
      assert.ok(nodeLinks.some((l) => l.ifname === 'cni0'), 'DEL never removes the shared bridge');
      assert.equal((await execOk(node.ctrArgv(['containers', 'list', '--quiet']))).trim(), '', 'no container left');
      const errors = readOr(node.cniLog, '').split('\n').filter((line) => /"level":(50|60)/.test(line));
      assert.deepEqual(errors, [], 'the plugin logged errors');
    });
  } catch (error) {
    failed = true;
    throw error;
  } finally {
    const problems = await node.destroy();
    const leftovers = node.leftovers();
    const machineAfter = snapshotMachinePaths();
    const report = [...problems, ...leftovers, ...(machineAfter === machineBefore ? [] : [`machine paths changed:\n${machineBefore}\n->\n${machineAfter}`])];
    // After a failure, report cleanup trouble without hiding the original error.
    if (report.length > 0) {
      if (failed) t.diagnostic(`cleanup: ${report.join('\n')}`);
      else assert.fail(`cleanup left traces:\n${report.join('\n')}`);
    }
  }
});
