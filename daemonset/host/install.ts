// Files the agent owns on the host, written so a reader never sees half a file: temp file in the
// same directory, then rename(2). Runtimes retry "text file busy" on an executable being written
// in place; a rename never causes it.
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { errnoCode } from '../../lib/errors.ts';

export type WriteOutcome = 'written' | 'unchanged';

function sameContent(file: string, content: Buffer): boolean {
  try {
    const stat = fs.statSync(file);
    if (stat.size !== content.length) return false;
    return fs.readFileSync(file).equals(content);
  } catch (error) {
    if (errnoCode(error) === 'ENOENT') return false;
    throw error;
  }
}

export function writeFileIfChanged(file: string, content: string | Buffer, mode = 0o644): WriteOutcome {
  const bytes = typeof content === 'string' ? Buffer.from(content) : content;
  if (sameContent(file, bytes)) return 'unchanged';
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const temp = path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}.${crypto.randomBytes(4).toString('hex')}.tmp`);
  try {
    fs.writeFileSync(temp, bytes, { mode });
    fs.chmodSync(temp, mode);
    fs.renameSync(temp, file);
  } finally {
    fs.rmSync(temp, { force: true });
  }
  return 'written';
}

/**
 * Installs an executable when the target is missing or differs, without ever holding it in
 * memory (the plugin is ~126 MB: kept in a buffer, it tripled the agent's RSS and made every
 * later fork slower). Compared in 1 MiB chunks, copied to a temp file, renamed into place. After
 * that, each sync only stats the target to notice someone removed or replaced it.
 */
export class BinaryInstaller {
  private readonly source: string;
  private readonly target: string;
  private installed: { size: number; mtimeMs: number } | undefined;

  constructor(source: string, target: string) {
    this.source = source;
    this.target = target;
  }

  ensure(): WriteOutcome {
    const current = statOrUndefined(this.target);
    if (current && this.installed && current.size === this.installed.size && current.mtimeMs === this.installed.mtimeMs) {
      return 'unchanged';
    }
    if (!fs.existsSync(this.source)) throw new Error(`the plugin executable ${this.source} does not exist (set --plugin-binary)`);
    let outcome: WriteOutcome = 'unchanged';
    if (!current || !sameFileContent(this.source, this.target)) {
      const temp = path.join(path.dirname(this.target), `.${path.basename(this.target)}.${process.pid}.tmp`);
      fs.mkdirSync(path.dirname(this.target), { recursive: true });
      try {
        fs.copyFileSync(this.source, temp);
        fs.chmodSync(temp, 0o755);
        fs.renameSync(temp, this.target);
      } finally {
        fs.rmSync(temp, { force: true });
      }
      outcome = 'written';
    }
    const after = fs.statSync(this.target);
    this.installed = { size: after.size, mtimeMs: after.mtimeMs };
    return outcome;
  }
}

/** Byte-for-byte equality, 1 MiB at a time. */
export function sameFileContent(a: string, b: string): boolean {
  const size = fs.statSync(a).size;
  if (statOrUndefined(b)?.size !== size) return false;
  const chunk = 1 << 20;
  const bufA = Buffer.allocUnsafe(chunk);
  const bufB = Buffer.allocUnsafe(chunk);
  const fdA = fs.openSync(a, 'r');
  const fdB = fs.openSync(b, 'r');
  try {
    for (let offset = 0; offset < size; offset += chunk) {
      const readA = fs.readSync(fdA, bufA, 0, chunk, offset);
      const readB = fs.readSync(fdB, bufB, 0, chunk, offset);
      if (readA !== readB || bufA.compare(bufB, 0, readB, 0, readA) !== 0) return false;
    }
    return true;
  } finally {
    fs.closeSync(fdA);
    fs.closeSync(fdB);
  }
}

function statOrUndefined(file: string): fs.Stats | undefined {
  try {
    return fs.statSync(file);
  } catch (error) {
    if (errnoCode(error) === 'ENOENT') return undefined;
    throw error;
  }
}
