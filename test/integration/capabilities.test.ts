// The agent with exactly the capabilities the DaemonSet grants (manifests/agent/daemonset.yaml:
// NET_ADMIN, NET_RAW; no privilege escalation) and /proc/sys read-only, as in an unprivileged
// container: it converges and pods ping across nodes. Each capability is needed: without it the
// agent fails in a way that says so. nft (the doctor's listing, uninstall's delete) needs NET_ADMIN alone.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import yaml from 'js-yaml';
import path from 'node:path';
import { skipUnlessAgent } from './harness.ts';
import { AGENT, ROOT, eventually, withCluster, type SimCluster, type SimNode } from '../support/cluster.ts';
import { createRunner, SYSTEM_PATH } from '../../lib/exec.ts';
import { DELETE_TABLE, LIST_TABLE_JSON } from '../../lib/antispoof/nft-cli.ts';
import { renderInstall } from '../../lib/antispoof/nft-text.ts';
import { antispoofRuleset } from '../../lib/antispoof/ruleset.ts';

/** The capabilities the DaemonSet adds to its agent container, as setpriv spells them. */
function manifestCapabilities(): string[] {
  const docs = yaml.loadAll(fs.readFileSync(path.join(ROOT, 'manifests/agent/daemonset.yaml'), 'utf8')) as any[];
  const agent = docs.find((d) => d?.kind === 'DaemonSet').spec.template.spec.containers.find((c: any) => c.name === 'agent');
  assert.deepEqual(agent.securityContext.capabilities.drop, ['ALL']);
  return (agent.securityContext.capabilities.add as string[]).map((c) => c.toLowerCase());
}

/**
 * Starts the agent in the node's namespace as a container runtime would start it unprivileged: a
 * mount namespace of its own with /proc/sys read-only, a bounding set of only `caps`, and
 * no_new_privs (allowPrivilegeEscalation: false).
 */
function startConfinedAgent(cluster: SimCluster, node: SimNode, caps: string[]) {
  const set = ['-all', ...caps.map((c) => `+${c}`)].join(',');
  const child = spawn('unshare', [
    '--mount', '--propagation', 'private', '--',
    // "$@" is the rest of this argv: nothing is interpolated into the script.
    'sh', '-c', 'mount --bind /proc/sys /proc/sys && mount -o remount,bind,ro /proc/sys && exec "$@"', 'sh',
    'nsenter', `--net=${node.path}`, '--',
    'setpriv', '--no-new-privs', '--bounding-set', set, '--inh-caps', set, '--',
    AGENT, ...cluster.agentArgs(node),
  ], { env: { PATH: SYSTEM_PATH }, stdio: ['ignore', 'pipe', 'pipe'] });
  node.agentLog = '';
  child.stdout!.on('data', (d) => (node.agentLog += d));
  child.stderr!.on('data', (d) => (node.agentLog += d));
  node.agent = child; // killed by the cluster's destroy()
  return child;
}

/** The agent's effective capabilities, from /proc (the child is unshare; the agent is its exec'd descendant chain). */
function effectiveCaps(pid: number): bigint {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  return BigInt(`0x${/^CapEff:\s*([0-9a-f]+)$/m.exec(status)![1]}`);
}

const ready = (cluster: SimCluster, node: SimNode) => eventually(async () => (await cluster.health(node, '/readyz')).status === 200, 20_000, `${node.name} ready`);

describe('the agent with only the DaemonSet\'s capabilities', { skip: skipUnlessAgent }, () => {
  test('converges (routes, chains, conflist), follows kube-proxy to iptables-legacy, and pods ping across nodes', () =>
    withCluster(2, async (cluster) => {
      const caps = manifestCapabilities();
      assert.deepEqual(caps, ['net_admin', 'net_raw']);
      const [a, b] = cluster.nodes as [SimNode, SimNode];
      // The node prerequisite: forwarding on (the container cannot set it).
      for (const node of [a, b]) await node.exec(['sysctl', '-w', 'net.ipv4.ip_forward=1']);
      // kube-proxy on iptables-legacy on node a: reading that backend needs NET_RAW.
      await a.exec(['iptables-legacy', '-t', 'nat', '-N', 'KUBE-SERVICES']);
      const children = [a, b].map((node) => startConfinedAgent(cluster, node, caps));
      try {
        for (const node of [a, b]) await ready(cluster, node);
      } catch (error) {
        throw new Error(`${(error as Error).message}\n${a.agentLog}\n${b.agentLog}`);
      }
      // The agent (the last exec in the chain keeps unshare's pid) runs with exactly these two.
      assert.equal(effectiveCaps(children[0]!.pid!), (1n << 12n) | (1n << 13n), 'CapEff = NET_ADMIN | NET_RAW');
      assert.deepEqual(await a.agentRoutes(), [`${b.podCIDR} via ${b.eth1IP}`]);
      assert.deepEqual(await b.agentRoutes(), [`${a.podCIDR} via ${a.eth1IP}`]);
      assert.match(a.agentLog, /"mode":"legacy","why":"it holds kube-proxy's KUBE-\* chains"/);
      assert.match((await a.exec(['iptables-legacy-save'])).stdout, /-A FORWARD -m comment --comment "bridgeway: pod forwarding" -j BRIDGEWAY-FORWARD/);
      assert.match(await b.iptablesSave(), /-A POSTROUTING -m comment --comment "bridgeway: masquerade" -j BRIDGEWAY-POSTRTG/);
      for (const node of [a, b]) assert.ok(fs.existsSync(node.conflistPath) && fs.existsSync(path.join(node.binDir, 'bridgeway')), node.name);
      const podA = await cluster.addPod(a);
      const podB = await cluster.addPod(b);
      assert.ok(await cluster.ping(podA.netns, podB.ip), `${podA.ip} -> ${podB.ip}`);
      assert.ok(await cluster.ping(podB.netns, podA.ip), `${podB.ip} -> ${podA.ip}`);
    }));

  test('the anti-spoofing table: doctor\'s nft -j list and uninstall\'s nft delete need NET_ADMIN only', () =>
    withCluster(1, async (cluster) => {
      const [a] = cluster.nodes as [SimNode];
      await a.exec(['nft', '-f', '-'], a.path, renderInstall(antispoofRuleset()));
      // nsenter first (it needs CAP_SYS_ADMIN), then the capabilities dropped, as in the agent's container.
      const confined = (caps: string[], argv: readonly string[]) => {
        const set = ['-all', ...caps.map((c) => `+${c}`)].join(',');
        return createRunner()(['nsenter', `--net=${a.path}`, '--', 'setpriv', '--no-new-privs', '--bounding-set', set, '--inh-caps', set, '--', ...argv]);
      };
      await assert.rejects(confined(['net_raw'], LIST_TABLE_JSON), /Operation not permitted/);
      const caps = manifestCapabilities();
      assert.match((await confined(caps, LIST_TABLE_JSON)).stdout, /"name": "port_mac"/);
      await confined(caps, DELETE_TABLE);
      assert.doesNotMatch((await a.exec(['nft', 'list', 'tables'])).stdout, /bridge bridgeway/);
    }));

  test('each one is needed, and forwarding off is named as the node prerequisite it is', () =>
    withCluster(2, async (cluster) => {
      const [a, b] = cluster.nodes as [SimNode, SimNode];
      await a.exec(['sysctl', '-w', 'net.ipv4.ip_forward=1']);
      await a.exec(['iptables-legacy', '-t', 'nat', '-N', 'KUBE-SERVICES']);

      // Without NET_ADMIN: no route can be added.
      startConfinedAgent(cluster, a, ['net_raw']);
      // The route change as an admin would type it, and the kernel's refusal (over rtnetlink on Bun).
      await eventually(async () => /ip route add \S+ via \S+ dev eth1 proto 77: (RTNETLINK answers: )?Operation not permitted/.test(a.agentLog), 15_000, 'a permission error');
      assert.notEqual((await cluster.health(a, '/readyz')).status, 200);
      await cluster.stopAgent(a);

      // Without NET_RAW: iptables-legacy cannot be read, so kube-proxy's backend is missed.
      startConfinedAgent(cluster, a, ['net_admin']);
      await ready(cluster, a);
      assert.match(a.agentLog, /"mode":"nft","why":"iptables-legacy is not available"/);
      await cluster.stopAgent(a);

      // Forwarding off and /proc/sys read-only: not ready, and the log says what to do on the node.
      await b.exec(['sysctl', '-w', 'net.ipv4.ip_forward=0']);
      startConfinedAgent(cluster, b, ['net_admin', 'net_raw']);
      await eventually(async () => /net\.ipv4\.ip_forward is 0 and cannot be set from here \(EROFS\): set it on the node: sysctl -w net\.ipv4\.ip_forward=1/.test(b.agentLog), 15_000, 'the prerequisite named');
      assert.equal((await cluster.health(b, '/readyz')).status, 503);
      assert.equal((await b.exec(['cat', '/proc/sys/net/ipv4/ip_forward'])).stdout.trim(), '0', 'the agent could not change it');
    }));
});
