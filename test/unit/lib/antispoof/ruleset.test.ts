// The anti-spoofing ruleset as data: the per-pod checks are single lookups keyed by the port,
// and an attachment's elements are exactly its port, MAC and addresses (plus what it derives).
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { formatIp, parseIp, type IpAddress } from '../../../../lib/cidr.ts';
import { antispoofRuleset, attachmentElements, CHAIN, linkLocalFromMac, SET, type Element } from '../../../../lib/antispoof/ruleset.ts';
import { ANTISPOOF_TABLE } from '../../../../lib/names.ts';

const ip = (text: string) => parseIp(text)!;
/** An element as one readable line: `set: part . part`. */
const line = (e: Element) => `${e.set}: ${e.key.map((p) => ('ifname' in p ? p.ifname : 'mac' in p ? p.mac : formatIp(p.ip as IpAddress))).join(' . ')}`;

describe('the ruleset', () => {
  const ruleset = antispoofRuleset();

  test('one table of ours in the bridge family; one base chain, on prerouting at filter priority', () => {
    assert.equal(ruleset.family, 'bridge');
    assert.equal(ruleset.table, ANTISPOOF_TABLE);
    const hooked = ruleset.chains.filter((c) => c.hook);
    assert.deepEqual(hooked.map((c) => [c.name, c.hook]), [[CHAIN.base, { hook: 'prerouting', priority: -200, policy: 'accept' }]]);
  });

  test('the base chain: a guarded port\'s own MAC goes on in one lookup, a guarded port\'s other MAC is dropped, any other port passes', () => {
    // An upgrade: the pods that predate the table have bw… ports and no elements; they must keep
    // working (unprotected), so no rule may judge a port by its name: only by its elements.
    const base = ruleset.chains.find((c) => c.name === CHAIN.base)!;
    assert.deepEqual(base.rules, [
      { matches: [{ match: 'set', set: SET.mac, key: ['iifname', 'ether saddr'], present: true }], verdict: { verdict: 'goto', chain: CHAIN.guarded } },
      { matches: [{ match: 'set', set: SET.guarded, key: ['iifname'], present: true }], verdict: { verdict: 'drop' } },
    ]);
    assert.equal(base.hook?.policy, 'accept', 'a port in neither set passes');
    assert.deepEqual(ruleset.sets.find((s) => s.name === SET.guarded)!.key, ['iifname']);
  });

  test('a guarded port\'s frame is judged by its family\'s chain; any other ethertype is dropped', () => {
    const guarded = ruleset.chains.find((c) => c.name === CHAIN.guarded)!;
    assert.deepEqual(guarded.rules.map((r) => [r.matches.map((m) => (m.match === 'ether-type' ? m.etherType : m.match)), r.verdict]), [
      [['arp'], { verdict: 'goto', chain: CHAIN.arp }],
      [['ip'], { verdict: 'goto', chain: CHAIN.ipv4 }],
      [['ip6'], { verdict: 'goto', chain: CHAIN.ipv6 }],
      [[], { verdict: 'drop' }],
    ]);
  });

  test('every set is keyed by the ingress port first, and every lookup uses its set\'s exact key', () => {
    for (const set of ruleset.sets) assert.equal(set.key[0], 'iifname', set.name);
    const lookups = ruleset.chains.flatMap((c) => c.rules.flatMap((r) => r.matches)).filter((m) => m.match === 'set');
    for (const lookup of lookups) assert.deepEqual(lookup.key, ruleset.sets.find((s) => s.name === lookup.set)!.key, lookup.set);
  });

  test('every rule has at most one lookup: the cost per packet does not grow with the pods', () => {
    for (const chain of ruleset.chains) for (const rule of chain.rules) assert.ok(rule.matches.filter((m) => m.match === 'set').length <= 1);
  });

  test('gotos name chains created before the chain that names them', () => {
    ruleset.chains.forEach((chain, i) => {
      for (const rule of chain.rules) {
        if (rule.verdict.verdict === 'goto') assert.ok(ruleset.chains.slice(0, i).some((c) => c.name === (rule.verdict as { chain: string }).chain));
      }
    });
  });
});

describe('an attachment\'s elements', () => {
  const cases: { name: string; addresses: string[]; want: string[] }[] = [
    {
      name: 'dual-stack',
      addresses: ['10.99.0.5', 'fd00:99::5'],
      want: [
        `${SET.guarded}: bw0`,
        `${SET.mac}: bw0 . 0a:58:0a:63:00:05`,
        `${SET.arp}: bw0 . 0a:58:0a:63:00:05 . 10.99.0.5`,
        `${SET.arp}: bw0 . 0a:58:0a:63:00:05 . 0.0.0.0`,
        `${SET.ipv4}: bw0 . 10.99.0.5`,
        `${SET.ipv6}: bw0 . fd00:99::5`,
        `${SET.ipv6}: bw0 . fe80::858:aff:fe63:5`,
        `${SET.ndTarget}: bw0 . fd00:99::5`,
        `${SET.ndTarget}: bw0 . fe80::858:aff:fe63:5`,
      ],
    },
    {
      name: 'IPv4 only: still its link-local, which the pod uses for ND and MLD',
      addresses: ['10.99.0.5'],
      want: [
        `${SET.guarded}: bw0`,
        `${SET.mac}: bw0 . 0a:58:0a:63:00:05`,
        `${SET.arp}: bw0 . 0a:58:0a:63:00:05 . 10.99.0.5`,
        `${SET.arp}: bw0 . 0a:58:0a:63:00:05 . 0.0.0.0`,
        `${SET.ipv4}: bw0 . 10.99.0.5`,
        `${SET.ipv6}: bw0 . fe80::858:aff:fe63:5`,
        `${SET.ndTarget}: bw0 . fe80::858:aff:fe63:5`,
      ],
    },
    {
      name: 'IPv6 only: no ARP at all',
      addresses: ['fd00:99::5'],
      want: [
        `${SET.guarded}: bw0`,
        `${SET.mac}: bw0 . 0a:58:0a:63:00:05`,
        `${SET.ipv6}: bw0 . fd00:99::5`,
        `${SET.ipv6}: bw0 . fe80::858:aff:fe63:5`,
        `${SET.ndTarget}: bw0 . fd00:99::5`,
        `${SET.ndTarget}: bw0 . fe80::858:aff:fe63:5`,
      ],
    },
  ];
  for (const c of cases) {
    test(c.name, () => {
      const elements = attachmentElements({ port: 'bw0', mac: '0a:58:0a:63:00:05', addresses: c.addresses.map(ip) });
      assert.deepEqual(elements.map(line), c.want);
    });
  }

  test('the port is guarded first and by the same elements: deleting them all unguards it', () => {
    const elements = attachmentElements({ port: 'bw0', mac: '0a:58:0a:63:00:05', addresses: [ip('10.99.0.5')] });
    assert.deepEqual(elements[0], { set: SET.guarded, key: [{ ifname: 'bw0' }] });
    assert.equal(elements.filter((e) => e.set === SET.guarded).length, 1);
  });

  test('the link-local address is the kernel\'s EUI-64 one (U/L bit flipped, ff:fe inserted)', () => {
    const cases: [string, string][] = [
      ['0a:58:0a:63:00:05', 'fe80::858:aff:fe63:5'],
      ['02:00:00:00:00:01', 'fe80::ff:fe00:1'],
      ['00:11:22:33:44:55', 'fe80::211:22ff:fe33:4455'],
    ];
    for (const [mac, want] of cases) assert.equal(formatIp(linkLocalFromMac(mac)), want, mac);
  });
});
