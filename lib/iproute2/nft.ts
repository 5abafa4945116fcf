// The anti-spoofing changes (guard-port, unguard-port) where the plugin cannot speak nfnetlink
// itself (the bundle on Node): `nft -f -`, one process per change in the steady state, the same
// text the tests use as their oracle (lib/antispoof/nft-text.ts). nft sends a file as one
// transaction and aborts all of it on any error, which decides the steps:
//   guard    add the elements; "No such file or directory" (no table yet): make the table
//            ("File exists": a concurrent ADD made it, done), then add them again
//   unguard  delete the elements; "No such file or directory" (one is gone, or the table): again
//            one element per process, each missing one tolerated (`destroy element` would do it
//            at once, but needs nft 1.0.8 and Linux 6.3)
// No `nft`, or a kernel without the bridge family, fails a guard with NftablesUnavailableError;
// for an unguard there is then nothing this backend could have added.
import { renderInstall, renderElements } from '../antispoof/nft-text.ts';
import { LIST_TABLE_JSON, nftAbsence } from '../antispoof/nft-cli.ts';
import { parseListedTable } from '../antispoof/nft-json.ts';
import { antispoofRuleset, elementsByPort, type Element } from '../antispoof/ruleset.ts';
import { CommandError, type Runner } from '../exec.ts';
import type { PortGuardChange } from '../kernel/change.ts';
import { KernelChangeError, KernelError, NftablesUnavailableError } from '../kernel/errors.ts';
import { describeChange } from './change-command.ts';
import { inNetns } from './netns.ts';

const MISSING = /No such file or directory/;
const EXISTS = /File exists/;
const UNSUPPORTED = /Operation not supported|Address family not supported|Protocol not supported/;

type NftOutcome = { ok: true } | { ok: false; stderr: string };

export async function applyWithNft(run: Runner, change: PortGuardChange, netns: string | undefined): Promise<void> {
  const ruleset = antispoofRuleset();
  const nft = async (text: string): Promise<NftOutcome> => {
    try {
      await run(inNetns(netns, ['nft', '-f', '-']), { input: text });
      return { ok: true };
    } catch (error) {
      if (!(error instanceof CommandError)) throw error;
      if (nftIsMissing(error)) throw new NftMissing(error);
      return { ok: false, stderr: error.stderr.trim() || error.message };
    }
  };
  const fail = (stderr: string) => new KernelChangeError([{ what: describeChange(change), message: stderr, kind: 'other' }], 'nft: ');
  try {
    if (change.op === 'guard-port') await guard(nft, ruleset, change.elements, fail);
    else await unguard(nft, ruleset, change.elements, fail);
  } catch (error) {
    if (!(error instanceof NftMissing)) throw error;
    if (change.op === 'guard-port') throw new NftablesUnavailableError(`nft is not installed: ${error.cause.message}`);
  }
}

type Nft = (text: string) => Promise<NftOutcome>;
type Fail = (stderr: string) => Error;

async function guard(nft: Nft, ruleset: ReturnType<typeof antispoofRuleset>, elements: readonly Element[], fail: Fail): Promise<void> {
  const add = renderElements(ruleset, 'add', elements);
  const first = await nft(add);
  if (first.ok) return;
  if (UNSUPPORTED.test(first.stderr)) throw new NftablesUnavailableError(`nft: ${first.stderr}`);
  if (!MISSING.test(first.stderr)) throw fail(first.stderr);
  const install = await nft(renderInstall(ruleset));
  if (!install.ok && !EXISTS.test(install.stderr)) {
    if (UNSUPPORTED.test(install.stderr) || MISSING.test(install.stderr)) throw new NftablesUnavailableError(`nft: ${install.stderr}`);
    throw fail(install.stderr);
  }
  const again = await nft(add);
  if (!again.ok) throw fail(again.stderr);
}

async function unguard(nft: Nft, ruleset: ReturnType<typeof antispoofRuleset>, elements: readonly Element[], fail: Fail): Promise<void> {
  const all = await nft(renderElements(ruleset, 'delete', elements));
  if (all.ok || UNSUPPORTED.test(all.stderr)) return;
  if (!MISSING.test(all.stderr)) throw fail(all.stderr);
  for (const element of elements) {
    const one = await nft(renderElements(ruleset, 'delete', [element]));
    if (!one.ok && !MISSING.test(one.stderr) && !UNSUPPORTED.test(one.stderr)) throw fail(one.stderr);
  }
}

/** The runner could not start nft (spawn ENOENT), or nsenter could not execute it (exit 127). */
function nftIsMissing(error: CommandError): boolean {
  if (error.exitCode === null) return /ENOENT|not found|No such file/.test(error.message);
  return error.exitCode === 127 || /failed to execute nft/.test(error.stderr);
}

class NftMissing extends Error {
  override readonly cause: CommandError;
  constructor(cause: CommandError) {
    super(cause.message);
    this.cause = cause;
  }
}

/**
 * The node's anti-spoofing elements, by port: `nft -j list table bridge bridgeway`, one process,
 * read with the doctor's parser (lib/antispoof/nft-json.ts). No table, or no `nft`: none (this
 * backend could not have added any).
 */
export async function listGuardsWithNft(run: Runner): Promise<Map<string, Element[]>> {
  const ruleset = antispoofRuleset();
  let stdout: string;
  try {
    ({ stdout } = await run(LIST_TABLE_JSON));
  } catch (error) {
    if (nftAbsence(error)) return new Map();
    throw new KernelError(`nft: ${LIST_TABLE_JSON.join(' ')}: ${error instanceof CommandError ? error.stderr.trim() || error.message : String(error)}`);
  }
  return elementsByPort(parseListedTable(stdout, ruleset).elements);
}
