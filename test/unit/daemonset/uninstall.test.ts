// daemonset/uninstall.ts: removeNetworkState removes only its own network's IPAM state, never
// another bridgeway network's (issue 12, item 2); the anti-spoofing table (issue 17) goes with
// one `nft delete table`, and its absence, or nft's, is said and is no failure; the plugin's log
// and, in Kubernetes mode, the Node's annotations and condition go too, the Node last (issue 18).
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseAgentConfig } from '../../../daemonset/config.ts';
import { iproute2Kernel } from '../../../lib/iproute2/kernel.ts';
import { removeNetworkState, removePluginLog, uninstall, type NodeMarksApi } from '../../../daemonset/uninstall.ts';
import { CommandError } from '../../../lib/exec.ts';
import type { Logger } from '../../../lib/log.ts';
import { FakeRunner } from '../../fixtures/fake-runner.ts';
import { iproute2Network } from '../../../daemonset/host/network.ts';

function withDataDir(body: (dataDir: string) => void): void {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'bridgeway-uninstall-'));
  try {
    body(path.join(root, 'data'));
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
}

/** A network's state as the plugin's disk store lays it out (ipam/disk-store.ts). */
function reserve(dataDir: string, network: string, ip: string, containerId: string): void {
  fs.mkdirSync(path.join(dataDir, network, 'ips'), { recursive: true });
  fs.mkdirSync(path.join(dataDir, network, 'attachments'), { recursive: true });
  fs.writeFileSync(path.join(dataDir, network, 'ips', ip), `${containerId}\neth0\n`);
  fs.writeFileSync(path.join(dataDir, network, 'attachments', `${containerId}:eth0`), `${ip}\n`);
}

describe('removeNetworkState', () => {
  test('removes its own network and leaves the others\' reservations exactly as they were', () => {
    withDataDir((dataDir) => {
      reserve(dataDir, 'bridgeway', '10.244.1.2', 'c1');
      reserve(dataDir, 'netb', '10.245.0.2', 'c2');
      reserve(dataDir, 'macvlan-storage', '10.246.0.9', 'c3');
      assert.deepEqual(removeNetworkState(dataDir, 'bridgeway'), { left: ['macvlan-storage', 'netb'] });
      assert.ok(!fs.existsSync(path.join(dataDir, 'bridgeway')));
      assert.equal(fs.readFileSync(path.join(dataDir, 'netb', 'ips', '10.245.0.2'), 'utf8'), 'c2\neth0\n');
      assert.equal(fs.readFileSync(path.join(dataDir, 'macvlan-storage', 'attachments', 'c3:eth0'), 'utf8'), '10.246.0.9\n');
    });
  });

  test('the data directory goes too once nothing else is in it', () => {
    withDataDir((dataDir) => {
      reserve(dataDir, 'bridgeway', '10.244.1.2', 'c1');
      assert.deepEqual(removeNetworkState(dataDir, 'bridgeway'), { left: [] });
      assert.ok(!fs.existsSync(dataDir));
    });
  });

  test('nothing there (never a pod, or a second uninstall) is fine; another network without ours is left', () => {
    withDataDir((dataDir) => {
      assert.deepEqual(removeNetworkState(dataDir, 'bridgeway'), { left: [] });
      reserve(dataDir, 'netb', '10.245.0.2', 'c2');
      assert.deepEqual(removeNetworkState(dataDir, 'bridgeway'), { left: ['netb'] });
      assert.ok(fs.existsSync(path.join(dataDir, 'netb', 'ips', '10.245.0.2')));
    });
  });

  for (const name of ['', '.', '..', '../etc', 'a/b']) {
    test(`refuses the network name ${JSON.stringify(name)}: it would remove more than one network`, () => {
      withDataDir((dataDir) => {
        reserve(dataDir, 'netb', '10.245.0.2', 'c2');
        assert.throws(() => removeNetworkState(dataDir, name), /not a network name/);
        assert.ok(fs.existsSync(path.join(dataDir, 'netb', 'ips', '10.245.0.2')));
      });
    });
  }
});

/** A logger that keeps the info lines. */
function recordingLog(lines: string[]): Logger {
  const log: Logger = { trace() {}, debug() {}, info: (obj, msg) => void lines.push(msg ?? String(obj)), warn() {}, error() {}, child: () => log };
  return log;
}

describe('uninstall: the anti-spoofing nftables table', () => {
  const NFT_DELETE = 'nft delete table bridge bridgeway';
  async function uninstallWith(runner: FakeRunner) {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), 'bridgeway-uninstall-'));
    try {
      const config = parseAgentConfig(['uninstall', '--cni-conf-dir', path.join(root, 'net.d'), '--cni-bin-dir', path.join(root, 'bin'), '--data-dir', path.join(root, 'data'), '--cni-log-file', path.join(root, 'log', 'bridgeway', 'cni.log')], {}, '/x')!;
      const lines: string[] = [];
      const failures = await uninstall(config, { run: runner.run, network: iproute2Network(runner.run), kernel: iproute2Kernel(runner.run), log: recordingLog(lines) });
      return { failures, lines, commands: runner.calls.map((c) => `${c.argv.join(' ')}${c.input ? `: ${c.input.trim()}` : ''}`) };
    } finally {
      fs.rmSync(root, { recursive: true, force: true });
    }
  }
  // Every ip query answers "nothing of ours"; the iptables backends are not there.
  // (links and routes are one read of two queries: host/network.ts).
  const node = () => new FakeRunner().on(['ip', '-j'], { stdout: '[]\n[]\n' }).on(['ip', '-j', '-d', 'addr', 'show'], { stdout: '[]' }).failFrom((argv) => argv[0]!.includes('tables-'), 1, { exitCode: 127, stderr: 'not found' });

  test('one nft process deletes the table, after the iptables chains and before the bridge', async () => {
    const { failures, lines, commands } = await uninstallWith(node());
    assert.deepEqual(failures, []);
    assert.deepEqual(commands.filter((c) => c.startsWith('nft')), [NFT_DELETE, 'nft -f -: add table inet bridgeway_policy\ndelete table inet bridgeway_policy']);
    const at = (command: string) => commands.findIndex((c) => c.startsWith(command));
    assert.ok(at('ip6tables-legacy-save') < at(NFT_DELETE) && at(NFT_DELETE) < at('ip -j -force -batch -: link del cni0'), commands.join('\n'));
    assert.ok(lines.includes('removed the nftables table bridge bridgeway'), lines.join('\n'));
    assert.ok(lines.includes('removed the nftables table inet bridgeway_policy'), lines.join('\n'));
  });

  test('no table (no pod ran with anti-spoofing, or a second uninstall): said, and no failure', async () => {
    const runner = node().failFrom(['nft', 'delete'], 1, { exitCode: 1, stderr: 'Error: No such file or directory\ndelete table bridge bridgeway\n                    ^^^^^^^^^\n' });
    const { failures, lines } = await uninstallWith(runner);
    assert.deepEqual(failures, []);
    assert.ok(lines.some((l) => /^no nftables table bridge bridgeway to remove/.test(l)), lines.join('\n'));
  });

  test('nft not installed: no failure, and the log says the table was not removed and how to', async () => {
    const runner = new FakeRunner().on(['ip', '-j'], { stdout: '[]\n' }).on(['nft'], () => Promise.reject(new CommandError(['nft'], null, '', '', 'spawn nft ENOENT')));
    const { failures, lines } = await uninstallWith(runner);
    assert.deepEqual(failures.filter((f) => f.includes('nftables')), []);
    assert.ok(lines.some((l) => l.startsWith('nft is not installed, so the nftables table bridge bridgeway was not removed') && l.includes('`nft delete table bridge bridgeway`')), lines.join('\n'));
  });

  test('any other nft error is a failure that names the table', async () => {
    const runner = node().failFrom(['nft'], 1, { exitCode: 1, stderr: 'Error: Operation not permitted' });
    const { failures } = await uninstallWith(runner);
    assert.deepEqual(failures.filter((f) => f.includes('nftables')).map((f) => f.split(':')[0]), ['the nftables table bridge bridgeway', 'the nftables table inet bridgeway_policy']);
    assert.match(failures.find((f) => f.includes('nftables'))!, /Operation not permitted/);
  });
});

describe('removePluginLog', () => {
  test('removes the file, and its directory when that is ours (bridgeway) and empty', () => {
    withDataDir((root) => {
      const file = path.join(root, 'bridgeway', 'cni.log');
      fs.mkdirSync(path.dirname(file), { recursive: true });
      fs.writeFileSync(file, '{"msg":"ADD"}\n');
      assert.equal(removePluginLog(file), undefined);
      assert.ok(!fs.existsSync(path.dirname(file)));
      assert.equal(removePluginLog(file), `no plugin log at ${file} (no pod started, or already removed)`);
    });
  });

  test('a directory with other files, or of another name, stays', () => {
    withDataDir((root) => {
      const file = path.join(root, 'bridgeway', 'cni.log');
      fs.mkdirSync(path.dirname(file), { recursive: true });
      fs.writeFileSync(file, 'x');
      fs.writeFileSync(path.join(root, 'bridgeway', 'notes'), 'the admin\'s');
      removePluginLog(file);
      assert.deepEqual(fs.readdirSync(path.dirname(file)), ['notes']);
      const elsewhere = path.join(root, 'logs', 'cni.log');
      fs.mkdirSync(path.dirname(elsewhere), { recursive: true });
      fs.writeFileSync(elsewhere, 'x');
      removePluginLog(elsewhere);
      assert.deepEqual(fs.readdirSync(path.dirname(elsewhere)), [], 'the file went, the directory of another name stays');
    });
  });
});

describe('uninstall: the Node object (Kubernetes mode)', () => {
  // Links and routes are one read of two queries (host/network.ts); the uplinks' read is its own (lib/uplink/read.ts).
  const node = () => new FakeRunner().on(['ip', '-j'], { stdout: '[]\n[]\n' }).on(['ip', '-j', '-d', 'addr', 'show'], { stdout: '[]' }).failFrom((argv) => argv[0]!.includes('tables-') || argv[0] === 'nft', 1, { exitCode: 127, stderr: 'not found' });
  async function uninstallWith(extra: string[], nodeMarks: (() => Promise<NodeMarksApi>) | undefined) {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), 'bridgeway-uninstall-'));
    try {
      const logFile = path.join(root, 'log', 'bridgeway', 'cni.log');
      fs.mkdirSync(path.dirname(logFile), { recursive: true });
      fs.writeFileSync(logFile, 'x');
      const config = parseAgentConfig(['uninstall', '--cni-conf-dir', path.join(root, 'net.d'), '--cni-bin-dir', path.join(root, 'bin'), '--data-dir', path.join(root, 'data'), '--cni-log-file', logFile, ...extra], {}, '/x')!;
      const lines: string[] = [];
      const runner = node();
      const failures = await uninstall(config, { run: runner.run, network: iproute2Network(runner.run), kernel: iproute2Kernel(runner.run), log: recordingLog(lines), nodeMarks });
      return { failures, lines, logLeft: fs.existsSync(logFile) };
    } finally {
      fs.rmSync(root, { recursive: true, force: true });
    }
  }

  test('the Node is cleaned last, after the plugin log, and what it did is logged', async () => {
    const calls: string[] = [];
    const { failures, lines, logLeft } = await uninstallWith(['--node-name', 'node-0'], async () => ({
      removeMarks: async (name) => {
        calls.push(name);
        return `node ${name}: removed the annotation bridgeway.io/eth1-ip; removed its NetworkUnavailable condition`;
      },
    }));
    assert.deepEqual(failures.filter((f) => !/tables|nftables/.test(f)), []);
    assert.deepEqual(calls, ['node-0']);
    assert.equal(logLeft, false);
    assert.ok(lines.at(-1)!.startsWith('node node-0: removed the annotation'), lines.join('\n'));
    assert.ok(lines.findIndex((l) => l.startsWith('removed the plugin log')) < lines.length - 1);
  });

  test('an API that cannot be opened or answers an error is a failure naming the Node; the rest is still removed', async () => {
    const { failures, logLeft } = await uninstallWith(['--node-name', 'node-0'], async () => {
      throw new Error('kubeconfig (default): ENOENT');
    });
    assert.deepEqual(failures.filter((f) => f.startsWith('the Node object')), ['the Node object node-0: kubeconfig (default): ENOENT']);
    assert.equal(logLeft, false);
  });

  test('without a node name the Node is not looked at, and the log says so; standalone mode has no Node step', async () => {
    let opened = false;
    const { failures, lines } = await uninstallWith([], async () => {
      opened = true;
      return { removeMarks: async () => '' };
    });
    assert.equal(opened, false);
    assert.deepEqual(failures.filter((f) => f.startsWith('the Node object')), []);
    assert.match(lines.at(-1)!, /^no --node-name \(NODE_NAME\): the Node object's bridgeway\.io annotations and NetworkUnavailable condition were not looked at$/);
    const standalone = await uninstallWith(['--node-name', 'node-0'], undefined);
    assert.ok(!standalone.lines.some((l) => /Node object|node node-0/.test(l)));
  });
});
