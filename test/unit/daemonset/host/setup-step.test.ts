// host/setup-step.ts: forwarding, the host checks and the plugin install, against a temp dir
// standing in for the host (test/fixtures/agent-node.ts).
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { describe, test } from 'node:test';
import { HostSettings, PluginInstall } from '../../../../daemonset/host/setup-step.ts';
import { recordingLogger, tempHost } from '../../../fixtures/agent-node.ts';


describe('step: node setup', () => {
  test('ip_forward is turned on, host findings are logged once per change', () => {
    const h = tempHost();
    try {
      fs.writeFileSync(path.join(h.procSys, 'net/bridge/bridge-nf-call-iptables'), '0\n');
      const log = recordingLogger();
      const settings = new HostSettings({ log, bridge: 'cni0', procSys: h.procSys });
      assert.equal(settings.ensure('eth1').ipForwardEnabled, true);
      assert.equal(fs.readFileSync(path.join(h.procSys, 'net/ipv4/ip_forward'), 'utf8'), '1');
      const again = settings.ensure('eth1');
      assert.equal(again.ipForwardEnabled, false);
      assert.deepEqual(again.findings.map((f) => f.setting), ['net.bridge.bridge-nf-call-iptables']);
      assert.equal(log.lines.filter((l) => l.level === 'warn').length, 1, 'the finding is logged once');
    } finally {
      h.cleanup();
    }
  });

  test('the plugin is installed once, and again when someone removes it', () => {
    const h = tempHost();
    try {
      const install = new PluginInstall({ log: recordingLogger(), pluginBinary: h.plugin, cniBinDir: h.binDir });
      assert.equal(install.ensure(), 'written');
      assert.equal(install.ensure(), 'unchanged');
      fs.rmSync(path.join(h.binDir, 'bridgeway'));
      assert.equal(install.ensure(), 'written');
      assert.equal((fs.statSync(path.join(h.binDir, 'bridgeway')).mode & 0o777), 0o755);
    } finally {
      h.cleanup();
    }
  });
});

