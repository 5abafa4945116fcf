// iptables/plan.ts (pure): our chains per family, and the iptables-restore payload that repairs them.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { parseCidr } from '../../../../lib/cidr.ts';
import { parseIptablesSave } from '../../../../lib/iptables/save.ts';
import { planIptables, removalPayload, restorePayload } from '../../../../daemonset/iptables/plan.ts';

const cidr = (t: string) => parseCidr(t)!;

describe('iptables plan', () => {
  const specs = planIptables({ clusterCIDR: cidr('10.244.0.0/16'), podCIDR: cidr('10.244.1.0/24'), randomFully: true });
  test('the number of rules does not depend on the number of nodes', () => {
    assert.equal(specs.reduce((n, s) => n + s.rules.length, 0), 7);
  });
  test('first payload declares our chains and inserts the hooks; nothing built-in is declared', () => {
    const payload = restorePayload(specs, parseIptablesSave('*filter\n:FORWARD DROP [0:0]\n-A FORWARD -j DOCKER\nCOMMIT\n*nat\n:POSTROUTING ACCEPT [0:0]\nCOMMIT\n'))!;
    assert.ok(payload.includes(':BRIDGEWAY-FORWARD - [0:0]'));
    assert.ok(payload.includes('-I FORWARD 1 -m comment --comment "bridgeway: pod forwarding" -j BRIDGEWAY-FORWARD'));
    assert.ok(!/^:(FORWARD|POSTROUTING|INPUT|OUTPUT|PREROUTING) /m.test(payload));
    assert.ok(payload.includes('-j MASQUERADE --random-fully'));
  });
  test('in sync: no payload; a flushed chain or a duplicate hook: a payload that repairs it', () => {
    const saved = (extraHook = false, flushNat = false) => {
      const lines = ['*filter', ':BRIDGEWAY-FORWARD - [0:0]'];
      const filter = specs[0]!;
      const nat = specs[1]!;
      lines.push(`-A FORWARD ${filter.hook.rule}`, ...(extraHook ? [`-A FORWARD ${filter.hook.rule}`] : []));
      lines.push(...filter.rules.map((r) => `-A BRIDGEWAY-FORWARD ${r}`), 'COMMIT', '*nat', ':BRIDGEWAY-POSTRTG - [0:0]', `-A POSTROUTING ${nat.hook.rule}`);
      if (!flushNat) lines.push(...nat.rules.map((r) => `-A BRIDGEWAY-POSTRTG ${r}`));
      lines.push('COMMIT');
      return parseIptablesSave(lines.join('\n'));
    };
    assert.equal(restorePayload(specs, saved()), undefined);
    assert.ok(restorePayload(specs, saved(false, true))!.includes('-A BRIDGEWAY-POSTRTG -m mark'));
    assert.ok(restorePayload(specs, saved(true))!.includes('-D FORWARD -m comment --comment "bridgeway: pod forwarding"'));
    assert.match(removalPayload(saved())!, /-D FORWARD .*\n-F BRIDGEWAY-FORWARD\n-X BRIDGEWAY-FORWARD/);
  });
});

describe('ip6tables plan', () => {
  const specs = planIptables({ clusterCIDR: parseCidr('fd00:10:244::/56')!, podCIDR: parseCidr('fd00:10:244:1::/64')!, randomFully: true });
  test('the same chains and hooks as IPv4, with IPv6 CIDRs and IPv6 multicast', () => {
    const v4 = planIptables({ clusterCIDR: cidr('10.244.0.0/16'), podCIDR: cidr('10.244.1.0/24'), randomFully: true });
    assert.deepEqual(specs.map((s) => [s.table, s.chain, s.hook]), v4.map((s) => [s.table, s.chain, s.hook]));
    assert.deepEqual(specs[0]!.rules, [
      '-s fd00:10:244::/56 -m comment --comment "bridgeway: from pods" -j ACCEPT',
      '-d fd00:10:244::/56 -m comment --comment "bridgeway: to pods" -j ACCEPT',
    ]);
    assert.deepEqual(specs[1]!.rules, [
      '-m mark --mark 0x4000/0x4000 -m comment --comment "bridgeway: kube-proxy masquerades these" -j RETURN',
      '-s fd00:10:244::/56 -d fd00:10:244::/56 -m comment --comment "bridgeway: pod to pod keeps the source" -j RETURN',
      '! -s fd00:10:244::/56 -d fd00:10:244:1::/64 -m comment --comment "bridgeway: host to local pod" -j RETURN',
      '-s fd00:10:244::/56 ! -d ff00::/8 -m comment --comment "bridgeway: pod to outside" -j MASQUERADE --random-fully',
      '! -s fd00:10:244::/56 -d fd00:10:244::/56 -m comment --comment "bridgeway: host to remote pod" -j MASQUERADE --random-fully',
    ]);
  });
});

