// The `nft` command as the agent runs it (uninstall, doctor) and the plugin's fallback will:
// which of its failures mean "nothing there" rather than an error. nft reports a missing table,
// chain, set or element with the kernel's ENOENT text and exit status 1; a missing executable
// never starts (lib/exec.ts: no exit status, the spawn error's ENOENT).
import { CommandError } from '../exec.ts';
import { ANTISPOOF_TABLE } from '../names.ts';

/** `nft -j list table bridge bridgeway`: the whole table, sets with their elements, in one process. */
export const LIST_TABLE_JSON = ['nft', '-j', 'list', 'table', 'bridge', ANTISPOOF_TABLE] as const;
/** Deletes the table with its chains, sets and elements, in one transaction. */
export const DELETE_TABLE = ['nft', 'delete', 'table', 'bridge', ANTISPOOF_TABLE] as const;

export type NftAbsence = 'no-nft' | 'no-such-object';

/** Why an nft run failed when the failure means absence, or undefined for a real error. */
export function nftAbsence(error: unknown): NftAbsence | undefined {
  if (!(error instanceof CommandError)) return undefined;
  if (error.exitCode === null && /\bENOENT\b/.test(error.message)) return 'no-nft';
  if (error.exitCode !== null && /No such file or directory/.test(error.stderr)) return 'no-such-object';
  return undefined;
}
