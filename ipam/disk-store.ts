// Reservations as files, safe against any number of concurrent plugin processes and against a
// process dying at any instruction, without a lock (Node has no flock):
//   ips/<a.b.c.d>              owner "<containerId>\n<ifname>\n"; created whole with link(2),
//                              which fails atomically if the file exists: two owners are impossible.
//   attachments/<cid>:<ifname> the attachment's address; written *before* the ips/ file, so a
//                              crash can leave an index entry pointing at an address we do not own
//                              (ignored: every reader checks the owner) but never an owned address
//                              that DEL cannot find.
//   last_reserved_ip           the round-robin cursor (advisory).
import fs from 'node:fs';
import path from 'node:path';
import { formatIpv4, parseIpv4 } from '../lib/cidr.ts';
import { errnoCode } from '../lib/errors.ts';
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
  private ensured = false;
  readonly dir: string;

  constructor(dir: string) {
    this.dir = dir;
    this.ipsDir = path.join(dir, 'ips');
    this.attachmentsDir = path.join(dir, 'attachments');
    this.cursorFile = path.join(dir, 'last_reserved_ip');
  }

  reserve(ip: number, attachment: Attachment): boolean {
    this.ensureDirs();
    const address = formatIpv4(ip);
    writeFileAtomic(path.join(this.attachmentsDir, attachmentKey(attachment)), `${address}\n`);
    const target = path.join(this.ipsDir, address);
    const temp = `${target}.${process.pid}.tmp`;
    fs.writeFileSync(temp, `${attachment.containerId}\n${attachment.ifname}\n`);
    try {
      fs.linkSync(temp, target);
      return true;
    } catch (error) {
      if (errnoCode(error) === 'EEXIST') return false;
      throw new IpamStoreError(`IPAM store: cannot reserve ${address} in ${this.ipsDir}: ${(error as Error).message}`);
    } finally {
      fs.rmSync(temp, { force: true });
    }
  }

  lookup(attachment: Attachment): number | undefined {
    const text = readOptional(path.join(this.attachmentsDir, attachmentKey(attachment)));
    const ip = text === undefined ? undefined : parseIpv4(text.trim());
    if (ip === undefined) return undefined;
    const owner = this.ownerOf(ip);
    return owner && sameAttachment(owner, attachment) ? ip : undefined;
  }

  release(attachment: Attachment): number | undefined {
    const ip = this.lookup(attachment);
    // Owner file first: a crash in between leaves a harmless dangling index entry.
    if (ip !== undefined) fs.rmSync(path.join(this.ipsDir, formatIpv4(ip)), { force: true });
    this.forgetAttachment(attachment);
    return ip;
  }

  forgetAttachment(attachment: Attachment): void {
    fs.rmSync(path.join(this.attachmentsDir, attachmentKey(attachment)), { force: true });
  }

  reservedAddresses(): Set<number> {
    const addresses = new Set<number>();
    for (const name of listDir(this.ipsDir)) {
      const ip = parseIpv4(name);
      if (ip !== undefined) addresses.add(ip);
    }
    return addresses;
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

  readCursor(): number | undefined {
    const text = readOptional(this.cursorFile);
    return text === undefined ? undefined : parseIpv4(text.trim());
  }

  writeCursor(ip: number): void {
    writeFileAtomic(this.cursorFile, `${formatIpv4(ip)}\n`);
  }

  checkUsable(): void {
    try {
      this.ensureDirs();
      fs.accessSync(this.ipsDir, fs.constants.R_OK | fs.constants.W_OK);
      fs.accessSync(this.attachmentsDir, fs.constants.R_OK | fs.constants.W_OK);
    } catch (error) {
      throw new IpamStoreError(`IPAM store ${this.dir} is not usable: ${(error as Error).message}`);
    }
  }

  private ownerOf(ip: number): Attachment | undefined {
    const text = readOptional(path.join(this.ipsDir, formatIpv4(ip)));
    if (text === undefined) return undefined;
    const [containerId, ifname] = text.split('\n');
    return containerId && ifname ? { containerId, ifname } : undefined;
  }

  private ensureDirs(): void {
    if (this.ensured) return;
    try {
      fs.mkdirSync(this.ipsDir, { recursive: true, mode: 0o700 });
      fs.mkdirSync(this.attachmentsDir, { recursive: true, mode: 0o700 });
    } catch (error) {
      throw new IpamStoreError(`IPAM store: cannot create ${this.dir}: ${(error as Error).message}`);
    }
    this.ensured = true;
  }
}

function readOptional(file: string): string | undefined {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch (error) {
    if (errnoCode(error) === 'ENOENT') return undefined;
    throw new IpamStoreError(`IPAM store: cannot read ${file}: ${(error as Error).message}`);
  }
}

function listDir(dir: string): string[] {
  try {
    return fs.readdirSync(dir).filter((name) => !name.endsWith('.tmp'));
  } catch (error) {
    if (errnoCode(error) === 'ENOENT') return [];
    throw new IpamStoreError(`IPAM store: cannot list ${dir}: ${(error as Error).message}`);
  }
}

function writeFileAtomic(file: string, content: string): void {
  const temp = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(temp, content);
  fs.renameSync(temp, file);
}
