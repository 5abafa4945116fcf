// Where reservations live: one store per address family. Synchronous on purpose: the plugin is
// a short-lived process doing a handful of tiny file operations, and sync calls keep the
// crash-safety ordering obvious. Addresses are bigint values of the store's family (lib/cidr.ts).
import type { IpFamily } from '../lib/cidr.ts';

export interface Attachment {
  containerId: string;
  ifname: string;
}

export interface Reservation {
  ip: bigint;
  attachment: Attachment;
}

export interface IpamStore {
  readonly family: IpFamily;
  /** Atomically claims ip for the attachment; false when someone holds it already. */
  reserve(ip: bigint, attachment: Attachment): boolean;
  /** The address recorded for the attachment, if its reservation is intact. */
  lookup(attachment: Attachment): bigint | undefined;
  /** Frees the attachment's address (only if it still owns it); returns it. Missing is fine. */
  release(attachment: Attachment): bigint | undefined;
  /** Every reserved address. */
  reservedAddresses(): Set<bigint>;
  /** Every reservation with its owner (for GC). */
  list(): Reservation[];
  /** When the address was reserved (ms since the epoch), where the store can tell (for the doctor's grace period). */
  reservedAt?(ip: bigint): number | undefined;
  /** Drops index entries that point at nothing we own, e.g. after a crash mid-reserve. */
  forgetAttachment(attachment: Attachment): void;
  /** Attachments known to the index (for GC). */
  listAttachments(): Attachment[];
  /** Removes what writers killed mid-write left behind (for GC); returns how many were removed. */
  sweepDebris(): number;
  readCursor(): bigint | undefined;
  writeCursor(ip: bigint): void;
  /** Throws when the store cannot be read and written (for STATUS). */
  checkUsable(): void;
}

export function sameAttachment(a: Attachment, b: Attachment): boolean {
  return a.containerId === b.containerId && a.ifname === b.ifname;
}

export function attachmentKey(a: Attachment): string {
  // ':' cannot appear in a container ID or an interface name (both validated), so this is unambiguous.
  return `${a.containerId}:${a.ifname}`;
}

export function parseAttachmentKey(key: string): Attachment | undefined {
  const colon = key.indexOf(':');
  if (colon <= 0 || colon === key.length - 1) return undefined;
  return { containerId: key.slice(0, colon), ifname: key.slice(colon + 1) };
}
