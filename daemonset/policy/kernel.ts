// The policy table's way into the kernel: `nft -f -`, one process and one transaction per apply
// (nft-text.ts spells the table and its changes). nft applies a file as one nf_tables batch, so a
// packet sees the old table or the new one, never half of either; a file that fails changes
// nothing. Also how the agent asks whether the table is still there (a resync's drift check) and
// removes it (BRIDGEWAY_NETWORK_POLICY=false, uninstall).
import type { Runner } from '../../lib/exec.ts';
import { nftAbsence } from '../../lib/antispoof/nft-cli.ts';
import { POLICY_TABLE } from '../../lib/names.ts';
import type { TableChange } from './diff.ts';
import { renderChanges, renderRemove, renderReplace } from './nft-text.ts';
import { BASE, type PolicyTable } from './table.ts';

const WHERE = { family: 'inet', name: POLICY_TABLE } as const;

export interface PolicyKernel {
  /** Creates the table, or replaces ours whole, in one transaction. */
  loadWhole(table: PolicyTable): Promise<void>;
  /** A minimal change (diff.ts) in one transaction. */
  applyChanges(changes: readonly TableChange[]): Promise<void>;
  /** Whether our base chain is in the kernel (false after `nft flush ruleset` or a deleted table). */
  present(): Promise<boolean>;
  /** Deletes the table, and succeeds when there is none. */
  remove(): Promise<void>;
}

/** nft's input can be large (a table of 5,000 pods is ~1 MB of text): give it time. */
const NFT_TIMEOUT_MS = 60_000;

export function nftPolicyKernel(run: Runner): PolicyKernel {
  const load = async (text: string) => {
    if (text !== '') await run(['nft', '-f', '-'], { input: text, timeoutMs: NFT_TIMEOUT_MS });
  };
  return {
    loadWhole: (table) => load(renderReplace(table)),
    applyChanges: (changes) => load(renderChanges(WHERE, changes)),
    async present() {
      try {
        await run(['nft', 'list', 'chain', WHERE.family, WHERE.name, BASE.chain]);
        return true;
      } catch (error) {
        if (nftAbsence(error) === 'no-such-object') return false;
        throw error;
      }
    },
    remove: () => load(renderRemove(WHERE)),
  };
}
