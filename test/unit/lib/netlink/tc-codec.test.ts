import { test } from 'node:test';
import assert from 'node:assert/strict';
import { encodeMessage, parseMessages } from '../../../../lib/netlink/codec.ts';
import { decodeQdisc, RTM_TC, tbfAttrs, tbfFromBits, tcmsg, TC_H_ROOT } from '../../../../lib/netlink/tc-codec.ts';

test('a TBF from bits: bytes per second, burst in bytes, limit = 25 ms of the rate + the burst (the bandwidth plugin\'s)', () => {
  assert.deepEqual(tbfFromBits(20_000_000, 1_000_000), { rate: 2_500_000, burst: 125_000, limit: 62_500 + 125_000 });
});

test('the root TBF message: tcmsg, kind "tbf", qopt with an Ethernet link layer (no rate table), the burst in bytes', () => {
  const message = encodeMessage(RTM_TC.NEWQDISC, 0x605, 1, tcmsg({ index: 7, parent: TC_H_ROOT }), tbfAttrs(tbfFromBits(8_000_000, 80_000)));
  const [decoded] = parseMessages(message);
  const qdisc = decodeQdisc(decoded!.payload);
  assert.deepEqual(qdisc, { index: 7, handle: 0, parent: TC_H_ROOT, kind: 'tbf', rate: 1_000_000 });
  // tcmsg: 20 bytes; TCA_KIND "tbf\0"; TCA_OPTIONS nested: PARMS (36 bytes) and BURST (u32).
  const hex = Buffer.from(decoded!.payload).toString('hex');
  assert.ok(hex.startsWith('00000000' + '07000000' + '00000000' + 'ffffffff' + '00000000'), hex);
  assert.ok(hex.includes('0800010074626600'), 'TCA_KIND tbf');
  assert.ok(hex.includes('2800010000010000' /* PARMS: cell_log 0, linklayer 1 */), hex);
  assert.ok(hex.includes('08000600' + '10270000'), 'TCA_TBF_BURST 10000 bytes');
});

test('a rate past 32 bits of bytes/s goes in TCA_TBF_RATE64 and decodes back', () => {
  const attrs = tbfAttrs({ rate: 2 ** 33, burst: 1000, limit: 2000 });
  const [decoded] = parseMessages(encodeMessage(RTM_TC.NEWQDISC, 0, 1, tcmsg({ index: 1, parent: TC_H_ROOT }), attrs));
  assert.equal(decodeQdisc(decoded!.payload).rate, 2 ** 33);
});
