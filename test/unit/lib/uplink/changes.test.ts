// lib/uplink/changes.ts: each uplink step as the kernel changes a Kernel applies, carrying every
// detail that was read; and the iproute2 spelling of those changes (lib/iproute2/change-command.ts),
// which is what the iproute2 Kernel runs (uninstall, the bundle on Node) and how errors name them.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { parseCidr, parseIp } from '../../../../lib/cidr.ts';
import { describeChange } from '../../../../lib/iproute2/change-command.ts';
import { toleratedFailure } from '../../../../lib/kernel/change.ts';
import { stepChanges } from '../../../../lib/uplink/changes.ts';
import { inverse, type UplinkStep } from '../../../../lib/uplink/plan.ts';

const spelled = (step: UplinkStep) => stepChanges(step).map(describeChange);

describe('stepChanges', () => {
  test('a new bridge: made only where none is (no "exists" tolerated), STP off, then its alias; its inverse deletes it', () => {
    const step: UplinkStep = { op: 'create-bridge', bridge: 'br-lan', mac: '52:54:00:12:34:56', mtu: 9000, alias: 'bridgeway-uplink:eth1' };
    const [add, alias] = stepChanges(step);
    assert.deepEqual(add, { op: 'add-bridge', name: 'br-lan', mac: '52:54:00:12:34:56', mtu: 9000, stpOff: true, exclusive: true });
    assert.equal(toleratedFailure(add!), undefined);
    assert.equal(toleratedFailure({ op: 'add-bridge', name: 'cni0', mac: '0a:58:0a:00:00:01', mtu: 1500 }), 'exists', 'the pods\' shared bridge still tolerates it');
    assert.deepEqual(spelled(step), [
      'link add br-lan address 52:54:00:12:34:56 mtu 9000 type bridge stp_state 0 forward_delay 0',
      'link set dev br-lan alias bridgeway-uplink:eth1',
    ]);
    assert.deepEqual(alias, { op: 'set-alias', link: 'br-lan', alias: 'bridgeway-uplink:eth1' });
    assert.deepEqual(stepChanges(inverse(step)), [{ op: 'delete-link', link: 'br-lan' }]);
  });

  test('a DHCP address: broadcast, scope and the lifetimes left; a static one none; delete by address alone', () => {
    const lease: UplinkStep = {
      op: 'add-address', link: 'br-lan',
      address: { family: 4, local: '192.168.77.10', prefixlen: 24, broadcast: '192.168.77.255', dynamic: true, validLft: 3600, preferredLft: 1800, secondary: true },
    };
    assert.deepEqual(stepChanges(lease), [{
      op: 'add-address', link: 'br-lan', address: parseCidr('192.168.77.10/24'), broadcast: parseIp('192.168.77.255'), lifetime: { valid: 3600, preferred: 1800 },
    }]);
    assert.deepEqual(spelled(lease), ['addr add 192.168.77.10/24 dev br-lan broadcast 192.168.77.255 valid_lft 3600 preferred_lft 1800']);
    const hostScoped: UplinkStep = { op: 'add-address', link: 'eth1', address: { family: 6, local: 'fd77::10', prefixlen: 64, scope: 'host', noprefixroute: true } };
    assert.deepEqual(spelled(hostScoped), ['addr add fd77::10/64 dev eth1 scope host noprefixroute nodad']);
    assert.deepEqual(stepChanges(inverse(lease)), [{ op: 'delete-address', link: 'br-lan', address: parseCidr('192.168.77.10/24') }]);
    assert.deepEqual(spelled(inverse(lease)), ['addr del 192.168.77.10/24 dev br-lan']);
  });

  test('routes: appended with protocol, scope, source, metric and onlink by number; "default" per family; deleted by gateway, protocol and metric', () => {
    const route = { family: 4 as const, dst: 'default', gateway: '192.168.77.1', dev: 'br-lan', protocol: 'dhcp', prefsrc: '192.168.77.10', metric: 100, onlink: true };
    assert.deepEqual(stepChanges({ op: 'add-route', route }), [{
      op: 'add-route', dst: parseCidr('0.0.0.0/0'), gateway: parseIp('192.168.77.1'), link: 'br-lan', append: true, protocol: 16, source: parseIp('192.168.77.10'), metric: 100, onlink: true,
    }]);
    assert.deepEqual(spelled({ op: 'add-route', route }), ['route append 0.0.0.0/0 via 192.168.77.1 dev br-lan proto dhcp src 192.168.77.10 metric 100 onlink']);
    assert.deepEqual(spelled({ op: 'delete-route', route: { ...route, dev: 'eth1' } }), ['route del 0.0.0.0/0 via 192.168.77.1 dev eth1 proto dhcp metric 100']);
    const v6: UplinkStep = { op: 'add-route', route: { family: 6, dst: 'default', gateway: 'fd77::1', dev: 'br-lan', metric: 1024 } };
    assert.deepEqual(spelled(v6), ['route append ::/0 via fd77::1 dev br-lan metric 1024']);
    const linkScoped: UplinkStep = { op: 'add-route', route: { family: 4, dst: '10.99.0.0/24', dev: 'br-lan', protocol: '99', scope: 'link' } };
    assert.deepEqual(stepChanges(linkScoped)[0], { op: 'add-route', dst: parseCidr('10.99.0.0/24'), link: 'br-lan', append: true, protocol: 99, scope: 253 });
    assert.deepEqual(spelled({ op: 'delete-route', route: { family: 4, dst: '192.168.77.0/24', dev: 'br-lan', protocol: 'kernel', scope: 'link' } }), ['route del 192.168.77.0/24 dev br-lan proto kernel']);
    assert.throws(() => stepChanges({ op: 'add-route', route: { ...route, protocol: 'mine' } }), /unknown route protocol "mine"/);
  });

  test('the port, the state and the mark: set-master, nomaster, down, an alias cleared as ""', () => {
    assert.deepEqual(spelled({ op: 'enslave', link: 'eth1', bridge: 'br-lan' }), ['link set dev eth1 master br-lan']);
    assert.deepEqual(spelled({ op: 'release', link: 'eth1', bridge: 'br-lan' }), ['link set dev eth1 nomaster']);
    assert.deepEqual(spelled({ op: 'set-down', link: 'br-lan' }), ['link set br-lan down']);
    assert.deepEqual(spelled({ op: 'set-alias', link: 'br-lan', alias: '' }), ['link set dev br-lan alias ""']);
    assert.deepEqual(spelled({ op: 'set-mac', link: 'br-lan', mac: '52:54:00:12:34:56', previous: '02:00:00:00:00:01' }), ['link set dev br-lan address 52:54:00:12:34:56']);
  });
});
