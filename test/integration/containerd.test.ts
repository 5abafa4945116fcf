// A real runtime drives the built plugin: containerd + runc through `ctr run --cni`, with the
// reference portmap chained after us, exactly as a node would run them, in a node of its own
// (containerd-node.ts, e2e/containerd/node.sh) that leaves no trace on the machine.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import {
  ContainerdNode, GATEWAY, NETWORK, PLUGIN, execOk, ipLinks, readOr, skipReason, sleep, snapshotMachinePaths, sweepDeadRuns, until, within,
} from './containerd-node.ts';

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
      const ports = (await node.links()).filter((l) => l.master === 'cni0');
      assert.equal(ports.length, 1, 'pod b\'s host veth is gone');
    });

    await t.test('pod a stopped: its address is released, its host veth is gone, the bridge stays', async () => {
      await execOk(node.ctrArgv(['task', 'kill', '--signal', 'SIGKILL', 'a']));
      const a = await within(podA.done, 20_000);
      assert.ok(a, `ctr run for pod a did not return within 20 s of the kill${node.diagnostics()}`);
      assert.deepEqual(node.reserved(), [], 'no reservation left in ips/');
      assert.deepEqual(fs.readdirSync(path.join(node.store, 'attachments')), [], 'no attachment index left');
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
