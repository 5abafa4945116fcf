// Where reservations live. Synchronous on purpose: the plugin is a short-lived process doing a
// handful of tiny file operations, and sync calls keep the crash-safety ordering obvious.

export interface Attachment {
  containerId: string;
  ifname: string;
}

export interface Reservation {
  ip: number;
  attachment: Attachment;
}

export interface IpamStore {
  /** Atomically claims ip for the attachment; false when someone holds it already. */
  reserve(ip: number, attachment: Attachment): boolean;
  /** The address recorded for the attachment, if its reservation is intact. */
  lookup(attachment: Attachment): number | undefined;
  /** Frees the attachment's address (only if it still owns it); returns it. Missing is fine. */
  release(attachment: Attachment): number | undefined;
  /** Every reserved address. */
  reservedAddresses(): Set<number>;
  /** Every reservation with its owner (for GC). */
  list(): Reservation[];
  /** Drops index entries that point at nothing we own, e.g. after a crash mid-reserve. */
  forgetAttachment(attachment: Attachment): void;
  /** Attachments known to the index (for GC). */
  listAttachments(): Attachment[];
  /** Removes what writers killed mid-write left behind (for GC); returns how many were removed. */
  sweepDebris(): number;
  readCursor(): number | undefined;
  writeCursor(ip: number): void;
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
