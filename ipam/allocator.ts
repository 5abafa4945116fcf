// Address allocation on top of any IpamStore. Correctness rests on store.reserve being atomic;
// the scan here is only an optimisation, so concurrent allocators may race freely.
import { formatIpv4 } from '../lib/cidr.ts';
import { IpamExhaustedError } from './errors.ts';
import { candidates, rangeSize, type IpRange } from './range.ts';
import type { Attachment, IpamStore } from './store.ts';

export interface Allocation {
  ip: number;
  /** False when the attachment already held this address (a retried ADD): rollback must keep it. */
  fresh: boolean;
}

export function allocate(store: IpamStore, range: IpRange, attachment: Attachment): Allocation {
  const existing = store.lookup(attachment);
  if (existing !== undefined) return { ip: existing, fresh: false };

  const reserved = store.reservedAddresses();
  for (const ip of candidates(range, store.readCursor())) {
    if (reserved.has(ip)) continue;
    if (reserveOrUndo(store, ip, attachment)) {
      try {
        store.writeCursor(ip);
      } catch (error) {
        store.release(attachment); // the caller gets an error, so it must not keep the address either
        throw error;
      }
      return { ip, fresh: true };
    }
  }
  store.forgetAttachment(attachment);
  throw new IpamExhaustedError(
    `no free address in ${formatIpv4(range.start)}-${formatIpv4(range.end)}: all ${rangeSize(range)} are reserved ` +
      `(if pods were deleted while the node was down, their reservations are released by the runtime's CNI GC)`,
  );
}

/** A store that fails halfway (a full disk) may have written the index entry: take it back. */
function reserveOrUndo(store: IpamStore, ip: number, attachment: Attachment): boolean {
  try {
    return store.reserve(ip, attachment);
  } catch (error) {
    try {
      store.forgetAttachment(attachment);
    } catch {
      // a dangling index entry is harmless (readers check the owner); report the first error
    }
    throw error;
  }
}

export function freeCount(store: IpamStore, range: IpRange): number {
  let used = 0;
  for (const ip of store.reservedAddresses()) if (ip >= range.start && ip <= range.end && ip !== range.gateway) used++;
  return rangeSize(range) - used;
}
