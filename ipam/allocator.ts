// Address allocation on top of any IpamStore, one family per store. Correctness rests on
// store.reserve being atomic; the scan here is only an optimisation, so concurrent allocators
// may race freely. The scan skips reserved addresses one by one and stops at the first free one:
// its cost is the number of reservations, never the size of the range (a /64 is 2^64).
import { IpamExhaustedError } from './errors.ts';
import { candidates, formatRange, inRange, rangeSize, type IpRange } from './range.ts';
import type { Attachment, IpamStore } from './store.ts';

export interface Allocation {
  ip: bigint;
  /** False when the attachment already held this address (a retried ADD): rollback must keep it. */
  fresh: boolean;
}

export function allocate(store: IpamStore, range: IpRange, attachment: Attachment): Allocation {
  const existing = store.lookup(attachment);
  if (existing !== undefined) return { ip: existing, fresh: false };

  const reserved = store.reservedAddresses();
  // Known full: say so at once instead of walking the whole range to find out.
  if (countFree(range, reserved) > 0n) {
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
  }
  store.forgetAttachment(attachment);
  throw new IpamExhaustedError(
    `no free IPv${range.family} address in ${formatRange(range)}: all ${rangeSize(range)} are reserved ` +
      `(if pods were deleted while the node was down, their reservations are released by the runtime's CNI GC)`,
  );
}

/** A store that fails halfway (a full disk) may have written the index entry: take it back. */
function reserveOrUndo(store: IpamStore, ip: bigint, attachment: Attachment): boolean {
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

export function freeCount(store: IpamStore, range: IpRange): bigint {
  return countFree(range, store.reservedAddresses());
}

function countFree(range: IpRange, reserved: ReadonlySet<bigint>): bigint {
  let used = 0n;
  for (const ip of reserved) if (inRange(range, ip)) used++;
  return rangeSize(range) - used;
}
