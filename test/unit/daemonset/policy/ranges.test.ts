// daemonset/policy/ranges.ts: ipBlock arithmetic and the port partition, always sorted and disjoint.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { parseCidr } from '../../../../lib/cidr.ts';
import { cidrRange, partitionPorts, subtractRanges, unionRanges, type AddressRange } from '../../../../daemonset/policy/ranges.ts';
import { rangeText } from '../../../../daemonset/policy/nft-text.ts';

const r = (cidr: string) => cidrRange(parseCidr(cidr)!);
const texts = (ranges: AddressRange[]) => ranges.map(rangeText);

describe('address ranges', () => {
  test('a CIDR minus excepts: the pieces around each hole, spelled as nft lists them', () => {
    assert.deepEqual(texts(subtractRanges([r('10.0.0.0/16')], [r('10.0.1.0/24'), r('10.0.255.255/32')])), ['10.0.0.0/24', '10.0.2.0-10.0.255.254']);
    assert.deepEqual(texts(subtractRanges([r('10.0.0.0/24')], [r('10.0.0.0/25')])), ['10.0.0.128/25']);
    assert.deepEqual(texts(subtractRanges([r('fd00::/64')], [r('fd00::/65')])), ['fd00::8000:0:0:0/65']);
    assert.deepEqual(subtractRanges([r('10.0.0.0/24')], [r('10.0.0.0/24')]), []);
    assert.deepEqual(texts(subtractRanges([r('10.0.0.0/24')], [r('fd00::/8')])), ['10.0.0.0/24'], 'another family is no hole');
  });
  test('union: sorted by family then address, overlapping and touching ranges joined', () => {
    assert.deepEqual(texts(unionRanges([r('fd00::/64'), r('10.0.1.0/24'), r('10.0.0.0/24'), r('10.0.0.128/25'), r('10.0.3.0/24')])), ['10.0.0.0/23', '10.0.3.0/24', 'fd00::/64']);
  });
  test('rangeText: a single address, a prefix, an unaligned span', () => {
    assert.equal(rangeText(r('10.1.2.3/32')), '10.1.2.3');
    assert.equal(rangeText(r('0.0.0.0/0')), '0.0.0.0/0');
    assert.equal(rangeText(r('::/0')), '::/0');
    assert.equal(rangeText({ family: 4, first: 1n, last: 2n }), '0.0.0.1-0.0.0.2');
  });
});

describe('partitionPorts', () => {
  const same = (a: string, b: string) => a === b;
  test('overlapping ranges cut into fragments with every covering label; equal neighbours joined; gaps left out', () => {
    const fragments = partitionPorts([
      { range: { proto: 6, first: 80, last: 90 }, label: 'A' },
      { range: { proto: 6, first: 85, last: 100 }, label: 'B' },
      { range: { proto: 6, first: 200, last: 200 }, label: 'A' },
      { range: { proto: 17, first: 53, last: 53 }, label: 'B' },
      { range: { proto: 6, first: 91, last: 95 }, label: 'B' },
    ], same);
    assert.deepEqual(fragments, [
      { proto: 6, first: 80, last: 84, labels: ['A'] },
      { proto: 6, first: 85, last: 90, labels: ['A', 'B'] },
      { proto: 6, first: 91, last: 100, labels: ['B'] },
      { proto: 6, first: 200, last: 200, labels: ['A'] },
      { proto: 17, first: 53, last: 53, labels: ['B'] },
    ]);
  });
  test('a label twice over the same ports counts once', () => {
    assert.deepEqual(partitionPorts([{ range: { proto: 6, first: 0, last: 65535 }, label: 'A' }, { range: { proto: 6, first: 80, last: 80 }, label: 'A' }], same), [{ proto: 6, first: 0, last: 65535, labels: ['A'] }]);
  });
});
