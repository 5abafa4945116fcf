// An in-memory IpamStore for unit tests of the allocator and the command logic.
import type { IpFamily } from '../lib/cidr.ts';
import { attachmentKey, parseAttachmentKey, sameAttachment, type Attachment, type IpamStore, type Reservation } from './store.ts';

export class MemoryStore implements IpamStore {
  private readonly owners = new Map<bigint, Attachment>();
  private readonly index = new Map<string, bigint>();
  private cursor: bigint | undefined;
  usable = true;
  readonly family: IpFamily;

  constructor(family: IpFamily = 4) {
    this.family = family;
  }

  reserve(ip: bigint, attachment: Attachment): boolean {
    this.index.set(attachmentKey(attachment), ip);
    if (this.owners.has(ip)) return false;
    this.owners.set(ip, attachment);
    return true;
  }

  lookup(attachment: Attachment): bigint | undefined {
    const ip = this.index.get(attachmentKey(attachment));
    if (ip === undefined) return undefined;
    const owner = this.owners.get(ip);
    return owner && sameAttachment(owner, attachment) ? ip : undefined;
  }

  release(attachment: Attachment): bigint | undefined {
    const ip = this.lookup(attachment);
    if (ip !== undefined) this.owners.delete(ip);
    this.index.delete(attachmentKey(attachment));
    return ip;
  }

  forgetAttachment(attachment: Attachment): void {
    this.index.delete(attachmentKey(attachment));
  }

  reservedAddresses(): Set<bigint> {
    return new Set(this.owners.keys());
  }

  list(): Reservation[] {
    return [...this.owners].map(([ip, attachment]) => ({ ip, attachment }));
  }

  listAttachments(): Attachment[] {
    return [...this.index.keys()].map((key) => parseAttachmentKey(key)!);
  }

  readCursor(): bigint | undefined {
    return this.cursor;
  }

  writeCursor(ip: bigint): void {
    this.cursor = ip;
  }

  checkUsable(): void {
    if (!this.usable) throw new Error('memory store marked unusable');
  }
}
