// The ruleset as `nft -f` text: exactly what `nft list table bridge bridgeway` prints for the
// table nft made from it (nftables 1.0.6; the integration test checks it against the kernel).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseIp } from '../../../../lib/cidr.ts';
import { renderElements, renderInstall, renderTable } from '../../../../lib/antispoof/nft-text.ts';
import { antispoofRuleset, attachmentElements } from '../../../../lib/antispoof/ruleset.ts';

const EXPECTED_TABLE = `table bridge bridgeway {
	set guarded_ports {
		type ifname
	}

	set port_mac {
		type ifname . ether_addr
	}

	set port_arp {
		type ifname . ether_addr . ipv4_addr
	}

	set port_ipv4 {
		type ifname . ipv4_addr
	}

	set port_ipv6 {
		type ifname . ipv6_addr
	}

	set port_nd_target {
		typeof iifname . @th,64,128
	}

	chain from_pod_arp {
		iifname . arp saddr ether . arp saddr ip != @port_arp drop
	}

	chain from_pod_ipv4 {
		icmp type redirect drop
		udp sport 67 drop
		iifname . ip saddr != @port_ipv4 drop
	}

	chain from_pod_ipv6 {
		icmpv6 type nd-router-advert drop
		icmpv6 type nd-redirect drop
		udp sport 547 drop
		ip6 saddr :: icmpv6 type nd-neighbor-solicit iifname . @th,64,128 @port_nd_target accept
		ip6 saddr :: icmpv6 type mld2-listener-report accept
		iifname . ip6 saddr != @port_ipv6 drop
		icmpv6 type nd-neighbor-advert iifname . @th,64,128 != @port_nd_target drop
	}

	chain from_guarded_port {
		ether type arp goto from_pod_arp
		ether type ip goto from_pod_ipv4
		ether type ip6 goto from_pod_ipv6
		drop
	}

	chain from_pods {
		type filter hook prerouting priority filter; policy accept;
		iifname . ether saddr @port_mac goto from_guarded_port
		iifname @guarded_ports drop
	}
}
`;

test('the table, as nft lists it', () => {
  assert.equal(renderTable(antispoofRuleset()), EXPECTED_TABLE);
});

test('installing: create table (fails when present, so the file is all or nothing), then the block', () => {
  assert.equal(renderInstall(antispoofRuleset()), `create table bridge bridgeway\n${EXPECTED_TABLE}`);
});

test('an attachment\'s elements, one line per set; the ND target as the integer nft takes', () => {
  const elements = attachmentElements({ port: 'bw0123456789ab', mac: '0a:58:0a:63:00:05', addresses: [parseIp('10.99.0.5')!, parseIp('fd00:99::5')!] });
  const port = '"bw0123456789ab"';
  assert.equal(renderElements(antispoofRuleset(), 'delete', elements), [
    `delete element bridge bridgeway guarded_ports { ${port} }`,
    `delete element bridge bridgeway port_mac { ${port} . 0a:58:0a:63:00:05 }`,
    `delete element bridge bridgeway port_arp { ${port} . 0a:58:0a:63:00:05 . 10.99.0.5, ${port} . 0a:58:0a:63:00:05 . 0.0.0.0 }`,
    `delete element bridge bridgeway port_ipv4 { ${port} . 10.99.0.5 }`,
    `delete element bridge bridgeway port_ipv6 { ${port} . fd00:99::5, ${port} . fe80::858:aff:fe63:5 }`,
    `delete element bridge bridgeway port_nd_target { ${port} . 0xfd000099000000000000000000000005, ${port} . 0xfe8000000000000008580afffe630005 }`,
    '',
  ].join('\n'));
});

test('no elements, no lines (an IPv6-only pod has no ARP line)', () => {
  const elements = attachmentElements({ port: 'bw1', mac: '0a:58:00:00:00:05', addresses: [parseIp('fd00::5')!] });
  assert.ok(!renderElements(antispoofRuleset(), 'add', elements).includes('port_arp'));
  assert.equal(renderElements(antispoofRuleset(), 'add', []), '');
});
