// The shell scripts (CI, demo, install, the image build, containerd node, kind e2e) stay lint-clean, and the kind
// e2e, which needs Docker and cannot run here, at least runs through in its dry-run mode.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

const root = path.resolve(import.meta.dirname, '../..');
const scripts = ['.ci/run', 'scripts/install-deps.sh', 'scripts/demo.sh', 'scripts/build-image.sh', 'image/minimal-rootfs.sh', 'e2e/containerd/node.sh', 'e2e/kind/run.sh'];
const haveShellcheck = spawnSync('shellcheck', ['--version']).status === 0;

test('shell scripts pass bash -n and shellcheck', { skip: !haveShellcheck && 'shellcheck is not installed' }, () => {
  for (const script of scripts) {
    execFileSync('bash', ['-n', script], { cwd: root });
    const lint = spawnSync('shellcheck', ['-x', script], { cwd: root, encoding: 'utf8' });
    assert.equal(lint.status, 0, `${script}:\n${lint.stdout}`);
  }
});

test('the kind e2e runs through in --dry-run, cleaning up at the end', () => {
  const result = spawnSync('bash', ['e2e/kind/run.sh', '--dry-run'], { cwd: root, encoding: 'utf8' });
  assert.equal(result.status, 0, result.stderr);
  assert.match(result.stdout, /\+ kind create cluster --name bridgeway-e2e --config e2e\/kind\/kind-config.yaml/);
  assert.match(result.stdout, /\+ docker network connect bridgeway-eth1 bridgeway-e2e-worker2/);
  assert.match(result.stdout, /\+ kubectl apply -f manifests\/bridgeway.yaml/);
  assert.match(result.stdout, /\+ kubectl -n kube-system delete daemonset bridgeway --wait=true\n\+ kubectl apply -f manifests\/uninstall.yaml\n\+ kubectl -n kube-system rollout status daemonset\/bridgeway-uninstall/);
  assert.match(result.stdout, /PASS: bridgeway on kind/);
  assert.match(result.stdout, /\+ kind delete cluster --name bridgeway-e2e\n\+ docker network rm bridgeway-eth1/);
});

test('the kind e2e builds and loads the image the DaemonSet runs, from the Dockerfile build-image.sh also reads', () => {
  const result = spawnSync('bash', ['e2e/kind/run.sh', '--dry-run'], { cwd: root, encoding: 'utf8' });
  const { version } = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8')) as { version: string };
  const daemonSet = fs.readFileSync(path.join(root, 'manifests/agent/daemonset.yaml'), 'utf8');
  assert.match(daemonSet, new RegExp(`^\\s+image: bridgeway:${version.replaceAll('.', '\\.')}$`, 'm'));
  assert.match(result.stdout, new RegExp(`^\\+ docker build -t bridgeway:${version.replaceAll('.', '\\.')} \\.$`, 'm'));
  assert.match(result.stdout, new RegExp(`^\\+ kind load docker-image bridgeway:${version.replaceAll('.', '\\.')} `, 'm'));
});
