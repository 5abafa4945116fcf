import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { parseIp } from '../../../../lib/cidr.ts';
import { announcements, ETH_P_ARP, ETH_P_IPV6, gratuitousArp, unsolicitedNa } from '../../../../lib/packet/announce.ts';

const hex = (bytes: Uint8Array) => Buffer.from(bytes).toString('hex');

describe('announcements of a new MAC', () => {
  test('a gratuitous ARP request: sender and target both the address, broadcast', () => {
    const frame = gratuitousArp('0a:58:c0:a8:4d:64', parseIp('192.168.77.100')!);
    assert.equal(frame.ethertype, ETH_P_ARP);
    assert.equal(hex(frame.destination), 'ffffffffffff');
    assert.equal(hex(frame.payload), '0001' + '0800' + '06' + '04' + '0001' + '0a58c0a84d64' + 'c0a84d64' + '000000000000' + 'c0a84d64');
  });

  test('an unsolicited NA to all nodes: override, hop limit 255, the target link-layer option, the checksum scapy computes', () => {
    const frame = unsolicitedNa('0a:58:c0:a8:4d:64', parseIp('fd77::100')!);
    assert.equal(frame.ethertype, ETH_P_IPV6);
    assert.equal(hex(frame.destination), '333300000001');
    // Checked against scapy's IPv6()/ICMPv6ND_NA() decoding and checksum (0x414b).
    assert.equal(
      hex(frame.payload),
      '6000000000203aff' + 'fd770000000000000000000000000100' + 'ff020000000000000000000000000001' +
        '8800414b' + '20000000' + 'fd770000000000000000000000000100' + '0201' + '0a58c0a84d64',
    );
  });

  test('one frame per address, by family', () => {
    const frames = announcements('0a:58:c0:a8:4d:64', [parseIp('192.168.77.100')!, parseIp('fd77::100')!]);
    assert.deepEqual(frames.map((f) => f.ethertype), [ETH_P_ARP, ETH_P_IPV6]);
  });
});
