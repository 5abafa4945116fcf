// Interval arithmetic for the compiler: address ranges (ipBlock minus its excepts, unions of
// several blocks) and the partition of the port space into fragments that each carry the rules
// allowing them. Every result is sorted and disjoint: nftables refuses overlapping elements in an
// interval set, and an element must be deleted exactly as it was added, so one canonical form
// makes the minimal diff a plain set difference.
import { cidrLast, cidrNetwork, type IpCidr, type IpFamily } from '../../lib/cidr.ts';

/** An inclusive range of addresses of one family. */
export interface AddressRange {
  family: IpFamily;
  first: bigint;
  last: bigint;
}

export function cidrRange(cidr: IpCidr): AddressRange {
  return { family: cidr.family, first: cidrNetwork(cidr), last: cidrLast(cidr) };
}

/** Sorted, merged (touching ranges joined), per family: the canonical form of a union. */
export function unionRanges(ranges: readonly AddressRange[]): AddressRange[] {
  const sorted = [...ranges].sort((a, b) => a.family - b.family || (a.first < b.first ? -1 : a.first > b.first ? 1 : 0));
  const out: AddressRange[] = [];
  for (const r of sorted) {
    const prev = out.at(-1);
    if (prev && prev.family === r.family && r.first <= prev.last + 1n) {
      if (r.last > prev.last) prev.last = r.last;
    } else {
      out.push({ ...r });
    }
  }
  return out;
}

/** `from` with every address of `holes` removed. */
export function subtractRanges(from: readonly AddressRange[], holes: readonly AddressRange[]): AddressRange[] {
  let rest = unionRanges(from);
  for (const hole of unionRanges(holes)) {
    rest = rest.flatMap((r) => {
      if (r.family !== hole.family || hole.last < r.first || hole.first > r.last) return [r];
      const pieces: AddressRange[] = [];
      if (hole.first > r.first) pieces.push({ family: r.family, first: r.first, last: hole.first - 1n });
      if (hole.last < r.last) pieces.push({ family: r.family, first: hole.last + 1n, last: r.last });
      return pieces;
    });
  }
  return rest;
}

export function rangeContains(range: AddressRange, family: IpFamily, value: bigint): boolean {
  return range.family === family && value >= range.first && value <= range.last;
}

/** An inclusive range of ports of one IP protocol number. */
export interface PortRange {
  proto: number;
  first: number;
  last: number;
}

/** A piece of the port space and the labels (rule keys) of every range that covers it. */
export interface Fragment<L> {
  proto: number;
  first: number;
  last: number;
  labels: L[];
}

/**
 * Cuts the labelled ranges into disjoint fragments, each with every label whose range covers it
 * (in the order given), and joins neighbours with the same labels: the fewest elements that give
 * each port exactly the set of rules allowing it. Ports no range covers are not in the result.
 */
export function partitionPorts<L>(ranges: readonly { range: PortRange; label: L }[], same: (a: L, b: L) => boolean): Fragment<L>[] {
  const out: Fragment<L>[] = [];
  const protos = [...new Set(ranges.map((r) => r.range.proto))].sort((a, b) => a - b);
  for (const proto of protos) {
    // A sweep over the cut points: the ranges covering each piece are those started and not yet
    // ended, so the cost is the pieces times the ranges open at once, not pieces times all ranges.
    const mine = ranges.map((r, order) => ({ ...r, order })).filter((r) => r.range.proto === proto).sort((a, b) => a.range.first - b.range.first);
    const cuts = [...new Set(mine.flatMap((r) => [r.range.first, r.range.last + 1]))].sort((a, b) => a - b);
    let open: typeof mine = [];
    let next = 0;
    for (let i = 0; i + 1 < cuts.length; i++) {
      const first = cuts[i]!;
      const last = cuts[i + 1]! - 1;
      open = open.filter((r) => r.range.last >= first);
      let added = false;
      while (next < mine.length && mine[next]!.range.first <= first) {
        open.push(mine[next++]!);
        added = true;
      }
      if (added) open.sort((a, b) => a.order - b.order);
      const labels: L[] = [];
      for (const r of open) if (!labels.some((l) => same(l, r.label))) labels.push(r.label);
      if (labels.length === 0) continue;
      const prev = out.at(-1);
      if (prev && prev.proto === proto && prev.last + 1 === first && prev.labels.length === labels.length && prev.labels.every((l, j) => same(l, labels[j]!))) {
        prev.last = last;
      } else {
        out.push({ proto, first, last, labels });
      }
    }
  }
  return out;
}
