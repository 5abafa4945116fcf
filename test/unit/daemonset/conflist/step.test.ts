// conflist/step.ts: which cniVersion the conflist gets and when it is rewritten, against the
// recording fake runner and a temp dir standing in for the host (test/fixtures/agent-node.ts).
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { describe, test } from 'node:test';
import { parseCidr } from '../../../../lib/cidr.ts';
import { Metrics } from '../../../../daemonset/serve/metrics.ts';
import { type ConflistSettings, ConflistSync } from '../../../../daemonset/conflist/step.ts';
import { readNodeInterface } from '../../../../daemonset/host/interface-step.ts';
import { nodeRunner, recordingLogger, tempHost } from '../../../fixtures/agent-node.ts';
import { iproute2Network } from '../../../../daemonset/host/network.ts';

const podCIDRs = [parseCidr('10.244.1.0/24')!];

async function host() {
  const run = nodeRunner();
  return { run, view: await readNodeInterface(iproute2Network(run.run), { iface: 'eth1' }) };
}

describe('step: conflist', () => {
  const settings = (h: ReturnType<typeof tempHost>, extra: Partial<ConflistSettings> = {}): ConflistSettings => ({
    standalone: false, cniConfDir: h.confDir, cniBinDir: h.binDir, bridge: 'cni0', dataDir: '/var/lib/cni/bridgeway', cniLogFile: '/var/log/bridgeway/cni.log', logLevel: 'info', ...extra,
  });
  const written = (h: ReturnType<typeof tempHost>) => JSON.parse(fs.readFileSync(h.conflist, 'utf8'));

  test('Kubernetes mode: the Node\'s runtime chooses; an upgrade rewrites it; the choice is logged once and is a metric label', async () => {
    const h = tempHost();
    try {
      const { view } = await host();
      const log = recordingLogger();
      const metrics = new Metrics();
      const conflist = new ConflistSync({ run: nodeRunner().run, log, metrics, settings: settings(h) });
      const first = await conflist.sync({ podCIDRs, iface: view.iface, runtimeVersion: 'containerd://1.6.20' });
      assert.deepEqual([first.choice.version, first.choice.source, first.written, first.mismatch], ['1.0.0', 'runtime', true, undefined]);
      assert.equal(written(h).cniVersion, '1.0.0');
      assert.equal((await conflist.sync({ podCIDRs, iface: view.iface, runtimeVersion: 'containerd://1.6.20' })).written, false);
      const upgraded = await conflist.sync({ podCIDRs, iface: view.iface, runtimeVersion: 'containerd://2.0.1' });
      assert.deepEqual([upgraded.choice.version, upgraded.written], ['1.1.0', true]);
      assert.equal(written(h).cniVersion, '1.1.0');
      const choices = log.lines.filter((l) => l.msg.startsWith('conflist cniVersion'));
      assert.deepEqual(choices.map((l) => l.msg), [
        'conflist cniVersion 1.0.0: containerd://1.6.20 speaks CNI up to 1.0.0',
        'conflist cniVersion 1.1.0: containerd://2.0.1 speaks CNI up to 1.1.0',
      ]);
      assert.match(metrics.render(), /^bridgeway_conflist_info\{cni_version="1\.1\.0",source="runtime"\} 1$/m);
      assert.doesNotMatch(metrics.render(), /cni_version="1\.0\.0"/, 'the old label is gone');
      assert.match(metrics.render(), /^bridgeway_conflist_runtime_mismatch 0$/m);
    } finally {
      h.cleanup();
    }
  });

  test('standalone: 1.0.0 unless --cni-version says otherwise, whatever a node file might claim', async () => {
    const h = tempHost();
    try {
      const { view } = await host();
      const plain = new ConflistSync({ run: nodeRunner().run, log: recordingLogger(), metrics: new Metrics(), settings: settings(h, { standalone: true }) });
      const choice = (await plain.sync({ podCIDRs, iface: view.iface, runtimeVersion: 'containerd://2.1.0' })).choice;
      assert.deepEqual([choice.version, choice.source], ['1.0.0', 'default']);
      const explicit = new ConflistSync({ run: nodeRunner().run, log: recordingLogger(), metrics: new Metrics(), settings: settings(h, { standalone: true, explicit: '1.1.0' }) });
      assert.equal((await explicit.sync({ podCIDRs, iface: view.iface })).choice.version, '1.1.0');
      assert.equal(written(h).cniVersion, '1.1.0');
    } finally {
      h.cleanup();
    }
  });

  test('an explicit version the runtime provably cannot speak: written as asked, and reported as a mismatch', async () => {
    const h = tempHost();
    try {
      const { view } = await host();
      const log = recordingLogger();
      const metrics = new Metrics();
      const conflist = new ConflistSync({ run: nodeRunner().run, log, metrics, settings: settings(h, { explicit: '1.1.0' }) });
      const outcome = await conflist.sync({ podCIDRs, iface: view.iface, runtimeVersion: 'containerd://1.6.20' });
      assert.equal(outcome.choice.source, 'flag');
      assert.match(outcome.mismatch!, /cniVersion 1\.1\.0 .* is newer than containerd:\/\/1\.6\.20 speaks \(up to 1\.0\.0\)/);
      assert.equal(written(h).cniVersion, '1.1.0');
      assert.match(metrics.render(), /^bridgeway_conflist_runtime_mismatch 1$/m);
      await conflist.sync({ podCIDRs, iface: view.iface, runtimeVersion: 'containerd://1.6.20' });
      assert.equal(log.lines.filter((l) => l.level === 'error').length, 1, 'logged once per change');
      const fixed = await conflist.sync({ podCIDRs, iface: view.iface, runtimeVersion: 'containerd://2.0.0' });
      assert.equal(fixed.mismatch, undefined);
      assert.match(metrics.render(), /^bridgeway_conflist_runtime_mismatch 0$/m);
    } finally {
      h.cleanup();
    }
  });

  test('portmap is asked VERSION once and chained only for a version it speaks (the chosen one)', async () => {
    const h = tempHost();
    try {
      const { view } = await host();
      fs.mkdirSync(h.binDir, { recursive: true });
      fs.writeFileSync(path.join(h.binDir, 'portmap'), '');
      const portmap = path.join(h.binDir, 'portmap');
      const run = nodeRunner().on([portmap], { stdout: JSON.stringify({ cniVersion: '1.0.0', supportedVersions: ['0.4.0', '1.0.0'] }) });
      const log = recordingLogger();
      const conflist = new ConflistSync({ run: run.run, log, metrics: new Metrics(), settings: settings(h) });
      assert.equal((await conflist.sync({ podCIDRs, iface: view.iface, runtimeVersion: 'containerd://1.7.22' })).portmap, true);
      assert.deepEqual(written(h).plugins.map((p: { type: string }) => p.type), ['bridgeway', 'portmap']);
      assert.equal((await conflist.sync({ podCIDRs, iface: view.iface, runtimeVersion: 'containerd://2.0.1' })).portmap, false);
      assert.deepEqual(written(h).plugins.map((p: { type: string }) => p.type), ['bridgeway']);
      const asked = run.callsMatching([portmap]);
      assert.deepEqual(asked.map((c) => [c.env, c.input]), [[{ CNI_COMMAND: 'VERSION' }, '{}']]);
      assert.equal(log.lines.filter((l) => l.msg.startsWith('portmap does not support CNI 1.1.0')).length, 1);
    } finally {
      h.cleanup();
    }
  });
});

