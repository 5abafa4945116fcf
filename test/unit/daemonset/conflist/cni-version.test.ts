import assert from 'node:assert/strict';
import { test } from 'node:test';
import { chooseCniVersion, parseRuntimeVersion, runtimeAccepts } from '../../../../daemonset/conflist/cni-version.ts';

test('chooseCniVersion: the flag wins, then the runtime, then 1.0.0', () => {
  const cases: [Parameters<typeof chooseCniVersion>[0], string, string][] = [
    [{ explicit: '1.1.0', runtimeVersion: 'containerd://1.6.20' }, '1.1.0', 'flag'],
    [{ explicit: '0.4.0' }, '0.4.0', 'flag'],
    [{ runtimeVersion: 'containerd://1.6.20' }, '1.0.0', 'runtime'],
    [{ runtimeVersion: 'containerd://1.7.22' }, '1.0.0', 'runtime'],
    [{ runtimeVersion: 'containerd://2.0.0' }, '1.1.0', 'runtime'],
    [{ runtimeVersion: 'containerd://2.1.4' }, '1.1.0', 'runtime'],
    [{ runtimeVersion: 'containerd://v2.0.5' }, '1.1.0', 'runtime'],
    [{ runtimeVersion: 'containerd://1.7.34' }, '1.0.0', 'runtime'],
    [{ runtimeVersion: 'containerd://1.6.20~ds1' }, '1.0.0', 'runtime'], // Debian 12's package
    // 2.0.0-beta.0..rc.0 vendored libcni 1.1.2: a pre-release of the first 1.1.0 release is unknown.
    [{ runtimeVersion: 'containerd://2.0.0-rc.0' }, '1.0.0', 'default'],
    [{ runtimeVersion: 'containerd://2.1.0-rc.1' }, '1.1.0', 'runtime'],
    [{ runtimeVersion: 'cri-o://1.28.2' }, '1.0.0', 'runtime'],
    [{ runtimeVersion: 'cri-o://1.30.4' }, '1.0.0', 'runtime'],
    [{ runtimeVersion: 'cri-o://1.32.0' }, '1.1.0', 'runtime'],
    [{ runtimeVersion: 'cri-o://1.31.1' }, '1.1.0', 'runtime'],
    [{ runtimeVersion: 'docker://24.0.7' }, '1.0.0', 'default'],
    [{ runtimeVersion: 'garbage' }, '1.0.0', 'default'],
    [{}, '1.0.0', 'default'],
    [{ standalone: true }, '1.0.0', 'default'],
    [{ standalone: true, explicit: '1.1.0' }, '1.1.0', 'flag'],
  ];
  for (const [input, version, source] of cases) {
    const choice = chooseCniVersion(input);
    assert.deepEqual([choice.version, choice.source], [version, source], JSON.stringify(input));
    assert.ok(choice.reason.length > 0);
  }
});

test('chooseCniVersion: standalone mode says why it chose 1.0.0', () => {
  assert.match(chooseCniVersion({ standalone: true }).reason, /standalone mode/);
});

test('parseRuntimeVersion and runtimeAccepts', () => {
  assert.deepEqual(parseRuntimeVersion('containerd://1.7.22'), { name: 'containerd', version: '1.7.22' });
  assert.equal(parseRuntimeVersion(''), undefined);
  assert.equal(runtimeAccepts('containerd://1.6.20', '1.1.0'), false);
  assert.equal(runtimeAccepts('containerd://1.6.20', '1.0.0'), true);
  assert.equal(runtimeAccepts('containerd://2.0.1', '1.1.0'), true);
  assert.equal(runtimeAccepts(undefined, '1.1.0'), true); // unknown: not provably wrong
  assert.equal(runtimeAccepts('containerd://2.0.0-rc.2', '1.1.0'), true); // rc.1+ had libcni 1.2.0: not provably wrong
  assert.deepEqual(parseRuntimeVersion('containerd://2.0.0-rc.1'), { name: 'containerd', version: '2.0.0', prerelease: 'rc.1' });
});
