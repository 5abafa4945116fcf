// Files the agent owns on the host, written so a reader never sees half a file: temp file in the
// same directory, then rename(2). Runtimes retry "text file busy" on an executable being written
// in place; a rename never causes it.
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { errnoCode } from '../lib/errors.ts';

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
 * Installs an executable when the target is missing or differs. The source is read once per
 * process (it is large); later calls only stat the target to notice someone removed or replaced it.
 */
export class BinaryInstaller {
  private readonly source: string;
  private readonly target: string;
  private content: Buffer | undefined;
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
    if (!this.content) {
      if (!fs.existsSync(this.source)) throw new Error(`the plugin executable ${this.source} does not exist (set --plugin-binary)`);
      this.content = fs.readFileSync(this.source);
    }
    const outcome = writeFileIfChanged(this.target, this.content, 0o755);
    const after = fs.statSync(this.target);
    this.installed = { size: after.size, mtimeMs: after.mtimeMs };
    return outcome;
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
