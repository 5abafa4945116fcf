// Reservations as files, safe against any number of concurrent plugin processes and against a
// process dying at any instruction, without a lock (Node has no flock):
//   ips/<a.b.c.d>              owner "<containerId>\n<ifname>\n"; created whole with link(2),
//                              which fails atomically if the file exists: two owners are impossible.
//   attachments/<cid>:<ifname> the attachment's address; written *before* the ips/ file, so a
//                              crash can leave an index entry pointing at an address we do not own
//                              (ignored: every reader checks the owner) but never an owned address
//                              that DEL cannot find.
//   last_reserved_ip           the round-robin cursor (advisory).
// That is the IPv4 store, laid out as before dual-stack so existing state reads after an upgrade.
// The IPv6 store is the same layout under ipv6/, each address named by its RFC 5952 text with
// ':' written as '-' (ipv6/ips/fd00-10-244-1--a): ':' is a path separator in PATH-like lists,
// scp and tar, and one canonical spelling means one file per address.
// Each family's store keeps its invariants on its own; an attachment holds one address per family.
// Every fs call goes through fsCall: a full disk or a read-only dataDir is an IpamStoreError
// (CNI code 5) naming the path, and a failed write removes its temp file.
import fs from 'node:fs';
import path from 'node:path';
import { formatIp, formatIpv6, parseIp, parseIpv6, type IpFamily } from '../lib/cidr.ts';
import { errnoCode, errorMessage } from '../lib/errors.ts';
import { IpamStoreError } from './errors.ts';
import {
  attachmentKey,
  parseAttachmentKey,
  sameAttachment,
  type Attachment,
  type IpamStore,
  type Reservation,
} from './store.ts';
import { sweepDeadWritersTemps } from './debris.ts';

export class DiskStore implements IpamStore {
  private readonly ipsDir: string;
  private readonly attachmentsDir: string;
  private readonly cursorFile: string;
  private readonly name: AddressNames;
  private ensured = false;
  readonly dir: string;
  readonly family: IpFamily;

  /** `dir` is the network's directory; the IPv6 store lives in its ipv6/ subdirectory. */
  constructor(networkDir: string, family: IpFamily = 4) {
    const dir = family === 4 ? networkDir : path.join(networkDir, 'ipv6');
    this.dir = dir;
    this.family = family;
    this.name = ADDRESS_NAMES[family];
    this.ipsDir = path.join(dir, 'ips');
    this.attachmentsDir = path.join(dir, 'attachments');
    this.cursorFile = path.join(dir, 'last_reserved_ip');
  }

  reserve(ip: bigint, attachment: Attachment): boolean {
    this.ensureDirs();
    const address = this.name.format(ip);
    writeFileAtomic(path.join(this.attachmentsDir, attachmentKey(attachment)), `${address}\n`);
    const target = path.join(this.ipsDir, address);
    const temp = `${target}.${process.pid}.tmp`;
    try {
      writeTemp(temp, `${attachment.containerId}\n${attachment.ifname}\n`);
      try {
        fs.linkSync(temp, target);
        return true;
      } catch (error) {
        if (errnoCode(error) === 'EEXIST') return false;
        throw new IpamStoreError(`IPAM store: cannot reserve ${address} (link ${temp} -> ${target}): ${errorMessage(error)}`);
      }
    } finally {
      removeQuietly(temp);
    }
  }

  lookup(attachment: Attachment): bigint | undefined {
    const text = readOptional(path.join(this.attachmentsDir, attachmentKey(attachment)));
    const ip = text === undefined ? undefined : this.name.parse(text.trim());
    if (ip === undefined) return undefined;
    const owner = this.ownerOf(ip);
    return owner && sameAttachment(owner, attachment) ? ip : undefined;
  }

  release(attachment: Attachment): bigint | undefined {
    const ip = this.lookup(attachment);
    // Owner file first: a crash in between leaves a harmless dangling index entry.
    if (ip !== undefined) removeFile(path.join(this.ipsDir, this.name.format(ip)));
    this.forgetAttachment(attachment);
    return ip;
  }

  forgetAttachment(attachment: Attachment): void {
    removeFile(path.join(this.attachmentsDir, attachmentKey(attachment)));
  }

  reservedAddresses(): Set<bigint> {
    const addresses = new Set<bigint>();
    for (const name of listDir(this.ipsDir)) {
      const ip = this.name.parse(name);
      if (ip !== undefined) addresses.add(ip);
    }
    return addresses;
  }

  /** When the address was reserved (its owner file's mtime, ms since the epoch); undefined if it is not. */
  reservedAt(ip: bigint): number | undefined {
    try {
      return fs.statSync(path.join(this.ipsDir, this.name.format(ip))).mtimeMs;
    } catch {
      return undefined;
    }
  }

  list(): Reservation[] {
    const reservations: Reservation[] = [];
    for (const ip of this.reservedAddresses()) {
      const attachment = this.ownerOf(ip);
      if (attachment) reservations.push({ ip, attachment });
    }
    return reservations;
  }

  listAttachments(): Attachment[] {
    return listDir(this.attachmentsDir).flatMap((name) => parseAttachmentKey(name) ?? []);
  }

  /** *.<pid>.tmp files of writers killed before they linked or renamed them (debris.ts). */
  sweepDebris(): number {
    return sweepDeadWritersTemps([this.ipsDir, this.attachmentsDir, this.dir]);
  }

  readCursor(): bigint | undefined {
    const text = readOptional(this.cursorFile);
    return text === undefined ? undefined : this.name.parse(text.trim());
  }

  writeCursor(ip: bigint): void {
    writeFileAtomic(this.cursorFile, `${this.name.format(ip)}\n`);
  }

  checkUsable(): void {
    try {
      this.ensureDirs();
      fs.accessSync(this.ipsDir, fs.constants.R_OK | fs.constants.W_OK);
      fs.accessSync(this.attachmentsDir, fs.constants.R_OK | fs.constants.W_OK);
    } catch (error) {
      throw new IpamStoreError(`IPAM store ${this.dir} is not usable: ${errorMessage(error)}`);
    }
  }

  private ownerOf(ip: bigint): Attachment | undefined {
    const text = readOptional(path.join(this.ipsDir, this.name.format(ip)));
    if (text === undefined) return undefined;
    const [containerId, ifname] = text.split('\n');
    return containerId && ifname ? { containerId, ifname } : undefined;
  }

  private ensureDirs(): void {
    if (this.ensured) return;
    for (const dir of [this.ipsDir, this.attachmentsDir]) {
      fsCall('create', dir, () => fs.mkdirSync(dir, { recursive: true, mode: 0o700 }));
    }
    this.ensured = true;
  }
}

/** How an address is spelled in file names and file contents, per family. */
interface AddressNames {
  format(ip: bigint): string;
  parse(name: string): bigint | undefined;
}

const ADDRESS_NAMES: Record<IpFamily, AddressNames> = {
  4: {
    format: (ip) => formatIp({ family: 4, value: ip }),
    parse: (name) => {
      const ip = parseIp(name);
      return ip?.family === 4 ? ip.value : undefined;
    },
  },
  6: {
    format: (ip) => ipv6FileName(ip),
    parse: (name) => parseIpv6FileName(name),
  },
};

/** fd00:10:244:1::a -> fd00-10-244-1--a */
export function ipv6FileName(ip: bigint): string {
  return formatIpv6(ip).replaceAll(':', '-');
}

/** The inverse of ipv6FileName; only the canonical spelling is ours (anything else is not read). */
export function parseIpv6FileName(name: string): bigint | undefined {
  if (name.includes(':')) return undefined;
  const ip = parseIpv6(name.replaceAll('-', ':'));
  return ip !== undefined && ipv6FileName(ip) === name ? ip : undefined;
}

/** Runs one fs call; any failure becomes an IpamStoreError naming the operation and the path. */
function fsCall<T>(what: string, file: string, call: () => T): T {
  try {
    return call();
  } catch (error) {
    if (error instanceof IpamStoreError) throw error;
    throw new IpamStoreError(`IPAM store: cannot ${what} ${file}: ${errorMessage(error)}`);
  }
}

function readOptional(file: string): string | undefined {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch (error) {
    if (errnoCode(error) === 'ENOENT') return undefined;
    throw new IpamStoreError(`IPAM store: cannot read ${file}: ${errorMessage(error)}`);
  }
}

function listDir(dir: string): string[] {
  try {
    return fs.readdirSync(dir).filter((name) => !name.endsWith('.tmp'));
  } catch (error) {
    if (errnoCode(error) === 'ENOENT') return [];
    throw new IpamStoreError(`IPAM store: cannot list ${dir}: ${errorMessage(error)}`);
  }
}

/** Missing is fine (idempotent release). */
/** unlink(2), "already gone" being success: rmSync({force}) stats first, one syscall more per DEL. */
function removeFile(file: string): void {
  fsCall('remove', file, () => {
    try {
      fs.unlinkSync(file);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    }
  });
}

/** Writes a temp file whole, or leaves none: a full disk can fail after the file was created. */
function writeTemp(temp: string, content: string): void {
  try {
    fsCall('write', temp, () => fs.writeFileSync(temp, content));
  } catch (error) {
    removeQuietly(temp);
    throw error;
  }
}

function writeFileAtomic(file: string, content: string): void {
  const temp = `${file}.${process.pid}.tmp`;
  writeTemp(temp, content);
  try {
    fsCall('rename', `${temp} -> ${file}`, () => fs.renameSync(temp, file));
  } finally {
    removeQuietly(temp);
  }
}

/** Cleanup of our own temp files: a leftover is harmless (readers skip *.tmp), so never fail for it. */
function removeQuietly(file: string): void {
  try {
    fs.unlinkSync(file);
  } catch {
    // gone already, or nothing better to do; the error that matters is already on its way
  }
}
