// Pure: tar headers (POSIX ustar, with a pax header for a name or link target that does not fit),
// for image layers and the OCI archive. Every entry is owned by 0:0 and carries one mtime, so the
// same files give the same bytes (reproducible layers need no tar flags of a particular tar).

export interface TarEntry {
  /** Relative, '/'-separated, without a leading './' or '/'; a directory's without a trailing '/'. */
  path: string;
  type: 'file' | 'directory' | 'symlink';
  /** Permission bits, e.g. 0o755 or 0o1777. */
  mode: number;
  /** A file's length in bytes. */
  size?: number;
  /** A symlink's target. */
  linkname?: string;
}

const BLOCK = 512;

/** The two zero blocks that end an archive. */
export const TAR_END = Buffer.alloc(2 * BLOCK);

/** Zero bytes after `size` bytes of content, up to the next block. */
export function tarPadding(size: number): Buffer {
  return Buffer.alloc((BLOCK - (size % BLOCK)) % BLOCK);
}

function octal(value: number, width: number): string {
  const text = value.toString(8);
  if (text.length > width - 1) throw new RangeError(`${value} does not fit a ${width}-byte tar field`);
  return `${text.padStart(width - 1, '0')}\0`;
}

function put(header: Buffer, offset: number, width: number, text: string): void {
  const bytes = Buffer.from(text, 'utf8');
  if (bytes.length > width) throw new RangeError(`"${text}" does not fit a ${width}-byte tar field`);
  bytes.copy(header, offset);
}

function block(name: string, type: string, mode: number, size: number, mtime: number, linkname: string): Buffer {
  const header = Buffer.alloc(BLOCK);
  put(header, 0, 100, name);
  put(header, 100, 8, octal(mode, 8));
  put(header, 108, 8, octal(0, 8));
  put(header, 116, 8, octal(0, 8));
  put(header, 124, 12, octal(size, 12));
  put(header, 136, 12, octal(mtime, 12));
  header.fill(' ', 148, 156);
  put(header, 156, 1, type);
  put(header, 157, 100, linkname);
  put(header, 257, 6, 'ustar\0');
  put(header, 263, 2, '00');
  let sum = 0;
  for (const byte of header) sum += byte;
  put(header, 148, 8, `${sum.toString(8).padStart(6, '0')}\0 `);
  return header;
}

/** One pax record, "<length> <key>=<value>\n", whose length counts its own digits. */
function paxRecord(key: string, value: string): string {
  const body = ` ${key}=${value}\n`;
  let length = Buffer.byteLength(body) + 1;
  while (String(length).length + Buffer.byteLength(body) !== length) length++;
  return `${length}${body}`;
}

const fits = (text: string) => Buffer.byteLength(text) <= 100 && /^[\x20-\x7e]*$/.test(text);

/** The header block(s) of one entry: a pax header first when its name or target needs one. */
export function tarHeader(entry: TarEntry, mtime: number): Buffer {
  const name = entry.type === 'directory' ? `${entry.path}/` : entry.path;
  const linkname = entry.linkname ?? '';
  if (entry.type === 'symlink' && !entry.linkname) throw new Error(`symlink ${entry.path} has no target`);
  const size = entry.type === 'file' ? (entry.size ?? 0) : 0;
  const type = { file: '0', directory: '5', symlink: '2' }[entry.type];
  const records = [...(fits(name) ? [] : [paxRecord('path', name)]), ...(fits(linkname) ? [] : [paxRecord('linkpath', linkname)])].join('');
  const main = block(fits(name) ? name : name.slice(-99).replace(/[^\x20-\x7e]/g, '_'), type, entry.mode & 0o7777, size, mtime, fits(linkname) ? linkname : '');
  if (!records) return main;
  const pax = Buffer.from(records, 'utf8');
  return Buffer.concat([block('PaxHeader', 'x', 0o644, pax.length, mtime, ''), pax, tarPadding(pax.length), main]);
}
