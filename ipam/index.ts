// The one front door to IPAM for everything outside ipam/: the plugin (cni/) and the agent's
// doctor (daemonset/) import this module only, never the files behind it. It opens a network's
// stores (one per family, on disk), allocates, releases and lists what is reserved.
// Releasing has one path, releaseAttachment: the plugin's DEL and GC (through
// cni/ipam/builtin.ts) and `doctor --fix-leaks` all free an attachment's addresses with it, so
// what counts as "released" cannot drift between them. Each caller still decides *which*
// attachments may go (GC: gc-plan.ts's proof; the doctor: a gone host veth and a grace period).
import path from 'node:path';
import type { IpFamily } from '../lib/cidr.ts';
import { DiskStore } from './disk-store.ts';
import { attachmentKey, type Attachment, type IpamStore } from './store.ts';

export { allocate, freeCount, type Allocation } from './allocator.ts';
export { IpamExhaustedError, IpamRangeError, IpamStoreError } from './errors.ts';
export { buildRange, formatRange, type IpRange } from './range.ts';
export { attachmentKey, sameAttachment, type Attachment, type IpamStore, type Reservation } from './store.ts';

/** Every family a network may hold a store of, IPv4 first. */
export const FAMILIES: readonly IpFamily[] = [4, 6];

/** The IPAM store of one family, opened on first use. */
export type StoreOf = (family: IpFamily) => IpamStore;

/** Where a network's reservations live: <dataDir>/<network> (the IPv6 store in its ipv6/ folder). */
export function networkDir(dataDir: string, network: string): string {
  return path.join(dataDir, network);
}

/** A network's disk store of one family (ipam/disk-store.ts); nothing is read or written until used. */
export function openStore(dir: string, family: IpFamily): IpamStore {
  return new DiskStore(dir, family);
}

/** A network's disk stores, each opened on first use and then kept. */
export function openStores(dir: string): StoreOf {
  const stores = new Map<IpFamily, IpamStore>();
  return (family) => {
    let store = stores.get(family);
    if (!store) stores.set(family, (store = openStore(dir, family)));
    return store;
  };
}

/** An address an attachment held, by family. */
export interface FreedAddress {
  family: IpFamily;
  ip: bigint;
}

/**
 * Frees the attachment's addresses in the stores of `families`; returns those it held. Nothing
 * held is success (DEL is idempotent). Each store frees only an address the attachment still
 * owns (disk-store.ts), so a reservation someone else took since is never touched.
 */
export function releaseAttachment(store: StoreOf, attachment: Attachment, families: readonly IpFamily[] = FAMILIES): FreedAddress[] {
  return families.flatMap((family) => {
    const ip = store(family).release(attachment);
    return ip === undefined ? [] : [{ family, ip }];
  });
}

/**
 * Every attachment the stores know, of both families: owners of reservations and index entries
 * (a crash may leave either), each once.
 */
export function storedAttachments(store: StoreOf): Attachment[] {
  const all = new Map<string, Attachment>();
  for (const family of FAMILIES) {
    const familyStore = store(family);
    for (const { attachment } of familyStore.list()) all.set(attachmentKey(attachment), attachment);
    for (const attachment of familyStore.listAttachments()) all.set(attachmentKey(attachment), attachment);
  }
  return [...all.values()];
}

/** One reserved address with its owner, and when it was reserved where the store can tell. */
export interface InventoryEntry {
  family: IpFamily;
  ip: bigint;
  attachment: Attachment;
  /** ms since the epoch. */
  reservedAt?: number;
}

/** Every reservation of both families, IPv4 first. */
export function inventory(store: StoreOf): InventoryEntry[] {
  return FAMILIES.flatMap((family) => {
    const familyStore = store(family);
    return familyStore.list().map(({ ip, attachment }) => {
      const reservedAt = familyStore.reservedAt?.(ip);
      return { family, ip, attachment, ...(reservedAt !== undefined && { reservedAt }) };
    });
  });
}

/** Removes the temp files of writers killed mid-write in both families' stores (ipam/debris.ts); returns how many. */
export function sweepDebris(store: StoreOf): number {
  return FAMILIES.reduce((n, family) => n + store(family).sweepDebris(), 0);
}
