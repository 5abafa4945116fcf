// The agent's image on an Open vSwitch node, installed the way manifests/bridgeway-ovs.yaml says
// (issue 21, the admin's install path): a private containerd node (containerd-node.ts) with its
// own ovsdb-server and ovs-vswitchd (test/support/ovs.ts) whose run directory is the node's
// /run/openvswitch, the agent's container run from the variant's DaemonSet and ConfigMap
// (image-pod.ts: its securityContext, its hostPath mounts, the read-only /run/openvswitch among
// them). The agent installs the plugin and a conflist for the OVS bridge; pods started through it
// get ports in OVSDB that name them, the agent's steering flows reach the bridge over the mounted
// <bridge>.mgmt socket, and manifests/uninstall-ovs.yaml's DaemonSet removes our ports, our flows,
// the plugin and the conflist, leaving a "VM" port and so the bridge.
// The one change to the variant's settings: BRIDGEWAY_OVS_DATAPATH netdev, as this machine's kernel
// has no openvswitch module (the variant says system, for nodes that have it).
// BRIDGEWAY_TEST_IMAGE=<archive> uses an archive of scripts/build-image.sh instead of building one.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { CONFLIST_NAME, DEFAULT_BRIDGE, NETWORK_NAME, OVS_IDS, PLUGIN_TYPE } from '../../lib/names.ts';
import { AGENT } from '../support/cluster.ts';
import { Lab } from '../support/lab.ts';
import { ovsMissing, ovsValue, TestOvs } from '../support/ovs.ts';
import { ContainerdNode, PLUGIN, execOk, destroyAndCheck, skipReason, snapshotMachinePaths, sweepDeadRuns, until, within } from './containerd-node.ts';
import { documentIn, podOptions, startUninstallPod, prepareKubeNode, runIn, startContainer, type KubeNode } from './image-pod.ts';

const REPO = path.resolve(import.meta.dirname, '../..');
const VERSION = (JSON.parse(fs.readFileSync(path.join(REPO, 'package.json'), 'utf8')) as { version: string }).version;
const RUN_DIR = '/run/openvswitch';
const given = process.env.BRIDGEWAY_TEST_IMAGE;

const skip = skipReason()
  || ovsMissing
  || (!given && spawnSync('mmdebstrap', ['--version']).status !== 0 ? 'mmdebstrap missing (Debian package; scripts/install-deps.sh installs it)' : undefined)
  || (!fs.existsSync(PLUGIN) || !fs.existsSync(AGENT) ? 'dist/ is missing: run npm run build' : undefined);

describe('the agent image on Open vSwitch: manifests/bridgeway-ovs.yaml and uninstall-ovs.yaml', { skip, timeout: 20 * 60_000 }, () => {
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'bwimageovs-'));
  const archive = given ?? path.join(work, `bridgeway-${VERSION}.oci.tar`);
  let built = false;

  before(async () => {
    if (!given) await execOk(['bash', path.join(REPO, 'scripts/build-image.sh'), '--output', archive], 15 * 60_000);
    built = fs.existsSync(archive);
  }, { timeout: 16 * 60_000 });

  after(() => fs.rmSync(work, { recursive: true, force: true }));

  test('the agent in OVS mode puts pods on the bridge with their external_ids and steers them; the uninstall removes ours and leaves a VM port', { timeout: 6 * 60_000 }, async (t) => {
    assert.ok(built, `no image archive at ${archive}`);
    sweepDeadRuns();
    const machineBefore = snapshotMachinePaths();
    const runDirBefore = fs.existsSync(RUN_DIR);
    const node = new ContainerdNode();
    const lab = new Lab(`${node.prefix}o`);
    const ovsDir = path.join(node.work, 'ovs');
    const nodeName = 'ovs-node';
    const self = { name: nodeName, ip: '192.168.78.10', podCidr: '10.244.1.0/24' };
    const peer = { name: 'ovs-peer', ip: '192.168.78.11', podCidr: '10.244.2.0/24' };
    let kube: KubeNode | undefined;
    let ovs: TestOvs | undefined;
    let agent: ReturnType<typeof startContainer> | undefined;
    let uninstaller: ReturnType<typeof startContainer> | undefined;
    let failed = false;
    try {
      // The node's /run/openvswitch is this test's OVS run directory: there the plugin (run by the
      // node's containerd) finds the database, and from there the DaemonSet's hostPath mounts it.
      fs.mkdirSync(ovsDir);
      await node.start({ agent: true, shadows: { [RUN_DIR]: ovsDir } });
      ovs = await TestOvs.start(lab, node.netns, { dir: ovsDir });
      kube = await prepareKubeNode(node, self, peer);

      const configMap = documentIn('manifests/bridgeway-ovs.yaml', 'ConfigMap');
      assert.equal(configMap.data.BRIDGEWAY_OVS_DATAPATH, 'system');
      configMap.data.BRIDGEWAY_OVS_DATAPATH = 'netdev'; // this kernel has no openvswitch module
      const hostPaths = { [RUN_DIR]: ovsDir };
      const pod = await podOptions(node, documentIn('manifests/bridgeway-ovs.yaml', 'DaemonSet'), configMap, kube, nodeName, hostPaths);
      assert.ok(pod.flags.includes(`type=bind,src=${ovsDir},dst=${RUN_DIR},options=rbind:ro`), pod.flags.join(' '));

      await execOk(node.ctrArgv(['images', 'import', archive]), 180_000);
      const image = `docker.io/library/bridgeway:${VERSION}`;
      agent = startContainer(node, [...pod.flags, image, 'agent']);
      const conflistPath = path.join(node.netd, CONFLIST_NAME);
      const installed = path.join(node.bin, PLUGIN_TYPE);
      const agentDone = agent.done;
      await until('the agent to write the conflist', 90_000, async () => {
        const exited = await within(agentDone, 0);
        if (exited) throw new Error(`the agent container exited (${exited.code ?? exited.signal})`);
        return fs.existsSync(conflistPath) || undefined;
      }).catch((error: Error) => assert.fail(`${error.message}\n--- agent\n${agent!.output()}${node.diagnostics()}`));
      const plugin = JSON.parse(fs.readFileSync(conflistPath, 'utf8')).plugins[0];
      assert.equal(plugin.bridgeType, 'ovs');
      assert.equal(plugin.ovsDatapath, 'netdev');
      assert.equal(plugin.ovsdbSocket ?? `${RUN_DIR}/db.sock`, `${RUN_DIR}/db.sock`, 'the socket the variant mounts');

      // Pods through the installed plugin: ports on a new netdev bridge, named by external_ids.
      const a = node.runPod('a', 'ip -o -4 addr show dev eth0 && sleep 120');
      const aAddress = await until('pod a\'s address', 60_000, () => /inet (10\.244\.1\.\d+)\//.exec(a.output())?.[1])
        .catch((error: Error) => assert.fail(`${error.message}: ${a.output()}${a.errors()}${node.diagnostics()}`));
      assert.equal(await ovs.vsctl(['get', 'Bridge', DEFAULT_BRIDGE, 'datapath_type']), 'netdev');
      const ports = (await ovs.rows(['find', 'Port', `external_ids:${OVS_IDS.network}=${NETWORK_NAME}`])).map((row) => ({ name: row.name as string, ids: ovsValue(row.external_ids) as Record<string, string> }));
      assert.equal(ports.length, 1, JSON.stringify(ports));
      assert.deepEqual([ports[0]!.ids[OVS_IDS.network], ports[0]!.ids[OVS_IDS.containerId], ports[0]!.ids[OVS_IDS.ifname]], [NETWORK_NAME, node.containerId('a'), 'eth0'], JSON.stringify(ports[0]));
      assert.deepEqual((await ovs.vsctl(['list-ports', DEFAULT_BRIDGE])).split('\n'), [ports[0]!.name]);

      // The agent reaches the bridge's OpenFlow socket through the read-only mount: its flows.
      const flows = await until('the agent\'s steering flows on the bridge', 30_000, async () => {
        const found = await ovs!.ourFlows(DEFAULT_BRIDGE);
        return found.length > 0 ? found : undefined;
      }).catch((error: Error) => assert.fail(`${error.message}\n--- agent\n${agent!.output()}`));
      assert.ok(flows.some((f) => f.includes('10.244.1.0/24')), flows.join('\n'));

      // The doctor in the agent's container reads the same database: it answers, the port is ours,
      // nothing fails. Without the host's PID namespace (the variant does not add it) it sees no
      // ovs-vswitchd process: the control socket in the mounted run directory answers for it.
      const doctor = await runIn(node, ['task', 'exec', '--exec-id', 'doctor', 'agent', 'bridgeway-agent', 'doctor']);
      const report = `doctor:\n${doctor.stdout}${doctor.stderr}`;
      assert.match(doctor.stdout, new RegExp(`^OK +ovsdb-server ${RUN_DIR}/db\\.sock: answers$`, 'm'), report);
      assert.match(doctor.stdout, /^OK +Open vSwitch network bridgeway ports: 1 pod port\(s\) on cni0$/m, report);
      assert.match(doctor.stdout, new RegExp(`^OK +ovs-vswitchd ${RUN_DIR}/db\\.sock: running \\(control socket ${RUN_DIR}/ovs-vswitchd\\.ctl answers\\)`, 'm'), report);
      assert.match(doctor.stdout, /\d+ OK, \d+ WARN, 0 FAIL/, report);

      const b = node.runPod('b', `ping -c 1 -W 2 ${aAddress} && ping -c 1 -W 2 ${self.ip}`);
      const bDone = await within(b.done, 60_000);
      assert.ok(bDone, 'pod b finished');
      assert.equal(bDone.code, 0, `pod b: ${bDone.stdout}${bDone.stderr}${node.diagnostics()}`);
      await execOk(node.ctrArgv(['task', 'kill', '--signal', 'SIGKILL', 'a']));
      assert.ok(await within(a.done, 20_000), 'pod a stopped');
      assert.equal(await ovs.vsctl(['list-ports', DEFAULT_BRIDGE]), '', 'DEL removed both pods\' ports');

      // The documented removal: the agent stopped (its flows stay), then uninstall-ovs.yaml. A VM's
      // port keeps the bridge; a port of ours left behind (a runtime that never called DEL) goes.
      await execOk(node.ctrArgv(['task', 'kill', 'agent']));
      const stopped = await within(agent.done, 30_000);
      assert.equal(stopped?.code, 0, agent.output());
      assert.ok((await ovs.ourFlows(DEFAULT_BRIDGE)).length > 0, 'SIGTERM leaves the flows');
      await ovs.vsctl(['add-port', DEFAULT_BRIDGE, 'vnet0', '--', 'set', 'Interface', 'vnet0', 'external_ids:iface-id=vm1']);
      await ovs.vsctl(['add-port', DEFAULT_BRIDGE, 'bwleft0', '--', 'set', 'Interface', 'bwleft0', 'type=internal', '--', 'set', 'Port', 'bwleft0',
        `external_ids:${OVS_IDS.network}=${NETWORK_NAME}`, `external_ids:${OVS_IDS.containerId}=gone`, `external_ids:${OVS_IDS.ifname}=eth0`]);

      const removal = await podOptions(node, documentIn('manifests/uninstall-ovs.yaml', 'DaemonSet'), configMap, kube, nodeName, hostPaths);
      assert.ok(removal.flags.includes(`type=bind,src=${ovsDir},dst=${RUN_DIR},options=rbind:ro`), removal.flags.join(' '));
      // As Kubernetes does, the args follow the image's entrypoint (image.test.ts checks it is this).
      uninstaller = await startUninstallPod(node, [...removal.flags, image, 'uninstall', '/usr/local/bin/bridgeway-agent', ...removal.args], removal.readiness);
      assert.deepEqual((await ovs.vsctl(['list-ports', DEFAULT_BRIDGE])).split('\n'), ['vnet0'], 'our port is gone, the VM\'s stays');
      assert.deepEqual(await ovs.ourFlows(DEFAULT_BRIDGE), [], 'no flow of ours on the bridge the VM keeps');
      assert.match(uninstaller.output(), /vnet0/, 'the log names the port that keeps the bridge');
      assert.ok(!fs.existsSync(conflistPath), 'the conflist is gone');
      assert.ok(!fs.existsSync(installed), 'the plugin is gone');
      await execOk(node.ctrArgv(['task', 'kill', 'uninstall']));
      assert.equal((await within(uninstaller.done, 30_000))?.code, 0, uninstaller.output());
    } catch (error) {
      failed = true;
      if (agent) t.diagnostic(`agent output:\n${agent.output()}`);
      if (uninstaller) t.diagnostic(`uninstall output:\n${uninstaller.output()}`);
      throw error;
    } finally {
      for (const container of [agent, uninstaller]) container?.child.kill('SIGKILL');
      kube?.relay.close();
      await kube?.api.close();
      await ovs?.stop();
      for (const problem of lab.cleanup()) t.diagnostic(`lab cleanup: ${problem}`);
      await destroyAndCheck(node, machineBefore, failed, t);
      assert.equal(fs.existsSync(RUN_DIR), runDirBefore, `the machine's ${RUN_DIR} is as it was`);
    }
  });
});
