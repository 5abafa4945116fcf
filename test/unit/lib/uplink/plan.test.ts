// lib/uplink/plan.ts: the move's steps in the order that keeps the node reachable, nothing planned
// for what is already done (an interrupted move completes, a complete one plans nothing), the
// refusals, each step's inverse, and the release (uninstall) as the move in reverse.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { inverse, planMove, planRelease, UplinkRefused, type UplinkStep } from '../../../../lib/uplink/plan.ts';
import { stepCommand } from '../../../../lib/uplink/ip-command.ts';
import { uplinkStateOf, type UplinkState } from '../../../../lib/uplink/state.ts';
import { parseLinks } from '../../../../lib/iproute2/link.ts';
import { parseRoutes } from '../../../../lib/iproute2/route.ts';

const MAC = '52:54:00:12:34:56';

/**
 * A node as `ip -d -j` shows it before the move (read by the iproute2 Kernel's parsers): eth1 with a
 * DHCP IPv4 address, a secondary, a global IPv6 address and routes of both families.
 */
function node(): UplinkState {
  const links = parseLinks([
    { ifindex: 1, ifname: 'lo', mtu: 65536, flags: ['LOOPBACK', 'UP'], address: '00:00:00:00:00:00', addr_info: [{ family: 'inet', local: '127.0.0.1', prefixlen: 8, scope: 'host' }] },
    {
      ifindex: 2, ifname: 'eth1', mtu: 9000, flags: ['UP'], address: MAC.toUpperCase(), linkinfo: {},
      addr_info: [
        { family: 'inet', local: '192.168.77.10', prefixlen: 24, broadcast: '192.168.77.255', scope: 'global', dynamic: true, valid_life_time: 3600, preferred_life_time: 3600 },
        { family: 'inet', local: '192.168.77.20', prefixlen: 24, scope: 'global', secondary: true, valid_life_time: 4294967295, preferred_life_time: 4294967295 },
        { family: 'inet6', local: 'fd77::10', prefixlen: 64, scope: 'global' },
        { family: 'inet6', local: 'fe80::5054:ff:fe12:3456', prefixlen: 64, scope: 'link' },
      ],
    },
  ]);
  const routes = [
    ...parseRoutes([
      { dst: 'default', gateway: '192.168.77.1', dev: 'eth1', protocol: 'dhcp', prefsrc: '192.168.77.10', metric: 100, flags: [] },
      { dst: '192.168.77.0/24', dev: 'eth1', protocol: 'kernel', scope: 'link', prefsrc: '192.168.77.10', flags: [] },
      { dst: '10.77.0.0/16', gateway: '192.168.77.1', dev: 'eth1', protocol: 'static', metric: 50, flags: [] },
      { dst: 'blackhole 10.1.0.0/16', type: 'blackhole', flags: [] },
    ], { details: true }),
    ...parseRoutes([
      { dst: 'fd77::/64', dev: 'eth1', protocol: 'kernel', metric: 256, flags: [] },
      { dst: 'fe80::/64', dev: 'eth1', protocol: 'kernel', metric: 256, flags: [] },
      { dst: 'default', gateway: 'fd77::1', dev: 'eth1', metric: 1024, flags: [] },
    ], { details: true }),
  ];
  return uplinkStateOf({ links, routes });
}

const spelled = (steps: UplinkStep[]) => steps.map((s) => stepCommand(s).join(' '));

/** The state after applying steps, as far as the planner looks at it (a small model of the kernel). */
function after(state: UplinkState, steps: UplinkStep[]): UplinkState {
  const s: UplinkState = structuredClone(state);
  for (const step of steps) {
    const link = (name: string) => s.links.find((l) => l.name === name)!;
    switch (step.op) {
      case 'create-bridge': s.links.push({ name: step.bridge, index: 99, mac: step.mac, mtu: step.mtu, up: false, alias: step.alias, kind: 'bridge', addresses: [] }); break;
      case 'set-up': link(step.link).up = true; break;
      case 'add-address': link(step.link).addresses.push(step.address); break;
      case 'delete-address': link(step.link).addresses = link(step.link).addresses.filter((a) => a.local !== step.address.local); break;
      case 'enslave': link(step.link).master = step.bridge; break;
      case 'release': delete link(step.link).master; break;
      case 'add-route': s.routes.push(step.route); break;
      case 'delete-route': s.routes = s.routes.filter((r) => !(r.dst === step.route.dst && r.dev === step.route.dev && r.gateway === step.route.gateway)); break;
      default: throw new Error(`model: ${step.op}`);
    }
  }
  return s;
}

describe('planMove', () => {
  test('bridge with the NIC\'s MAC and MTU, addresses on it, enslave, routes per family (add, then delete), addresses off the NIC (secondaries first)', () => {
    assert.deepEqual(spelled(planMove(node(), 'eth1', 'br-lan')), [
      `ip link add name br-lan address ${MAC} mtu 9000 type bridge stp_state 0 forward_delay 0`,
      'ip link set dev br-lan up',
      'ip -4 addr add dev br-lan 192.168.77.10/24 broadcast 192.168.77.255 valid_lft 3600 preferred_lft 3600',
      'ip -4 addr add dev br-lan 192.168.77.20/24',
      'ip -6 addr add dev br-lan fd77::10/64 nodad',
      'ip link set dev eth1 master br-lan',
      'ip -4 route append table main default via 192.168.77.1 dev br-lan proto dhcp src 192.168.77.10 metric 100',
      'ip -4 route del table main default via 192.168.77.1 dev eth1 proto dhcp metric 100',
      'ip -4 route append table main 10.77.0.0/16 via 192.168.77.1 dev br-lan proto static metric 50',
      'ip -4 route del table main 10.77.0.0/16 via 192.168.77.1 dev eth1 proto static metric 50',
      'ip -6 route append table main default via fd77::1 dev br-lan metric 1024',
      'ip -6 route del table main default via fd77::1 dev eth1 metric 1024',
      'ip -4 addr del dev eth1 192.168.77.20/24',
      'ip -4 addr del dev eth1 192.168.77.10/24',
      'ip -6 addr del dev eth1 fd77::10/64',
    ]);
  });

  test('a complete move plans nothing; a move interrupted anywhere plans only what is left', () => {
    const steps = planMove(node(), 'eth1', 'br-lan');
    for (let done = 0; done <= steps.length; done++) {
      const rest = planMove(after(node(), steps.slice(0, done)), 'eth1', 'br-lan');
      // What is left never repeats a step already done, and ends where the full move ends.
      assert.deepEqual(after(after(node(), steps.slice(0, done)), rest).links.find((l) => l.name === 'eth1')!.addresses, [], `after ${done}`);
      if (done === steps.length) assert.deepEqual(rest, []);
    }
  });

  test('refusals: no such NIC, a bridge named as the NIC, a NIC in another bridge, a non-bridge in the bridge\'s name', () => {
    const state = node();
    assert.throws(() => planMove(state, 'eth9', 'br-lan'), UplinkRefused);
    state.links.push({ name: 'br0', index: 7, mac: MAC, mtu: 1500, up: true, kind: 'bridge', addresses: [] });
    assert.throws(() => planMove(state, 'br0', 'br-lan'), /itself a bridge/);
    state.links.find((l) => l.name === 'eth1')!.master = 'br0';
    assert.throws(() => planMove(state, 'eth1', 'br-lan'), /already a port of br0/);
    delete state.links.find((l) => l.name === 'eth1')!.master;
    state.links.push({ name: 'br-lan', index: 8, mac: MAC, mtu: 1500, up: true, kind: 'veth', addresses: [] });
    assert.throws(() => planMove(state, 'eth1', 'br-lan'), /exists and is not a bridge/);
  });

  test('a bridge someone else made gets the NIC\'s MAC and our mark, each undoable', () => {
    const state = node();
    state.links.push({ name: 'br-lan', index: 8, mac: '02:00:00:00:00:01', mtu: 1500, up: true, kind: 'bridge', alias: 'lab', addresses: [] });
    const [mac, alias] = planMove(state, 'eth1', 'br-lan');
    assert.deepEqual(mac, { op: 'set-mac', link: 'br-lan', mac: MAC, previous: '02:00:00:00:00:01' });
    assert.deepEqual(alias, { op: 'set-alias', link: 'br-lan', alias: 'bridgeway-uplink:eth1', previous: 'lab' });
    assert.deepEqual(inverse(mac!), { op: 'set-mac', link: 'br-lan', mac: '02:00:00:00:00:01', previous: MAC });
    assert.deepEqual(stepCommand(inverse(alias!)), ['ip', 'link', 'set', 'dev', 'br-lan', 'alias', 'lab']);
  });

  test('every step\'s inverse undoes it and is undone by it', () => {
    for (const step of planMove(node(), 'eth1', 'br-lan')) assert.deepEqual(inverse(inverse(step)), step);
  });
});

describe('planRelease', () => {
  const moved = () => {
    const state = after(node(), planMove(node(), 'eth1', 'br-lan'));
    // The kernel's prefix routes follow the addresses onto the bridge.
    state.routes.push({ family: 4, dst: '192.168.77.0/24', dev: 'br-lan', protocol: 'kernel', scope: 'link', prefsrc: '192.168.77.10' });
    return state;
  };

  test('addresses back on the NIC, the bridge\'s prefix routes handed over, release, routes back, the bridge deleted', () => {
    assert.deepEqual(spelled(planRelease(moved(), 'br-lan', { foreignPorts: [] })), [
      'ip -4 addr add dev eth1 192.168.77.10/24 broadcast 192.168.77.255 valid_lft 3600 preferred_lft 3600',
      'ip -4 addr add dev eth1 192.168.77.20/24',
      'ip -6 addr add dev eth1 fd77::10/64 nodad',
      'ip -4 route del table main 192.168.77.0/24 dev br-lan proto kernel',
      'ip link set dev eth1 nomaster',
      'ip -4 route append table main default via 192.168.77.1 dev eth1 proto dhcp src 192.168.77.10 metric 100',
      'ip -4 route del table main default via 192.168.77.1 dev br-lan proto dhcp metric 100',
      'ip -4 route append table main 10.77.0.0/16 via 192.168.77.1 dev eth1 proto static metric 50',
      'ip -4 route del table main 10.77.0.0/16 via 192.168.77.1 dev br-lan proto static metric 50',
      'ip -6 route append table main default via fd77::1 dev eth1 metric 1024',
      'ip -6 route del table main default via fd77::1 dev br-lan metric 1024',
      'ip -4 addr del dev br-lan 192.168.77.20/24',
      'ip -4 addr del dev br-lan 192.168.77.10/24',
      'ip -6 addr del dev br-lan fd77::10/64',
      'ip link del dev br-lan',
    ]);
  });

  test('with ports that are not ours the bridge stays, unmarked; a bridge not ours is refused', () => {
    const steps = planRelease(moved(), 'br-lan', { foreignPorts: ['vnet0'] });
    assert.deepEqual(steps.at(-1), { op: 'set-alias', link: 'br-lan', alias: '', previous: 'bridgeway-uplink:eth1' });
    assert.ok(!steps.some((s) => s.op === 'delete-bridge'));
    const state = moved();
    state.links.find((l) => l.name === 'br-lan')!.alias = 'someone';
    assert.throws(() => planRelease(state, 'br-lan', { foreignPorts: [] }), /holds no uplink of ours/);
    assert.deepEqual(planRelease(node(), 'br-lan', { foreignPorts: [] }), [], 'no bridge: nothing to give back');
  });
});
