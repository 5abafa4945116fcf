// daemonset/doctor/checks/uplink.ts: the bridged LAN's pains, one at a time, each named with its fix;
// a node without an uplink gets no line at all.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { checkUplinks } from '../../../../../daemonset/doctor/checks/uplink.ts';
import type { CheckContext } from '../../../../../daemonset/doctor/checks/context.ts';
import type { UplinkFacts } from '../../../../../daemonset/doctor/facts.ts';

type Bridge = UplinkFacts['bridges'][number];
const healthy = (): Bridge => ({ bridge: 'br-lan', nic: 'eth1', stp: false, forwardDelaySeconds: 0, nicPresent: true, nicMaster: 'br-lan', nicAddresses: [], networkManager: false });
const check = (uplinks: UplinkFacts) => checkUplinks({ facts: { uplinks } } as unknown as CheckContext);

describe('doctor: uplink bridges', () => {
  test('no uplink on the node: no line', () => {
    assert.deepEqual(check({ bridges: [] }), []);
  });

  test('a complete move: one OK line', () => {
    const [finding, ...rest] = check({ bridges: [healthy()] });
    assert.deepEqual(rest, []);
    assert.equal(finding!.severity, 'OK');
    assert.equal(finding!.object, 'eth1 on br-lan');
  });

  const faults: [string, (b: Bridge) => void, 'WARN' | 'FAIL', RegExp, RegExp][] = [
    ['NetworkManager manages the NIC', (b) => { b.networkManager = true; }, 'FAIL', /NetworkManager manages eth1/, /nmcli connection add type bridge ifname br-lan/],
    ['the NIC still holds addresses', (b) => { b.nicAddresses = ['192.168.77.10/24']; }, 'WARN', /eth1 still holds 192\.168\.77\.10\/24/, /start a pod on the network/],
    ['STP on', (b) => { b.stp = true; }, 'WARN', /STP is on/, /stp_state 0 && ip link set dev br-lan type bridge forward_delay 0/],
    ['a forward delay', (b) => { b.forwardDelaySeconds = 15; }, 'WARN', /forward delay is 15 s: every new port/, /ip link set dev br-lan type bridge stp_state 0 && ip link set dev br-lan type bridge forward_delay 0/],
    ['the NIC left the bridge', (b) => { delete b.nicMaster; }, 'FAIL', /eth1 is not a port of br-lan/, /ip link set dev eth1 master br-lan/],
    ['the NIC is gone', (b) => { b.nicPresent = false; }, 'FAIL', /eth1 no longer exists/, /bring eth1 back/],
  ];
  for (const [name, inject, severity, detail, fix] of faults) {
    test(name, () => {
      const bridge = healthy();
      inject(bridge);
      const found = check({ bridges: [bridge] }).filter((f) => f.severity !== 'OK');
      const match = found.find((f) => detail.test(f.detail));
      assert.ok(match, found.map((f) => f.detail).join('\n'));
      assert.equal(match.severity, severity);
      assert.match(match.fix!, fix);
    });
  }

  test('bridges that could not be read are a warning, not silence', () => {
    const [finding] = check({ bridges: [], error: 'ip: not found' });
    assert.equal(finding!.severity, 'WARN');
    assert.match(finding!.detail, /ip: not found/);
  });
});
