// The anti-spoofing elements a namespace's table holds, as the tests' oracle: `nft -j list table
// bridge bridgeway` read with the doctor's parser (lib/antispoof/nft-json.ts), so a test compares
// elements, never text. No table: no elements.
import { LIST_TABLE_JSON } from '../../lib/antispoof/nft-cli.ts';
import { elementPort, parseListedTable } from '../../lib/antispoof/nft-json.ts';
import { antispoofRuleset, type Element } from '../../lib/antispoof/ruleset.ts';
import { execIn } from './exec-in.ts';

export async function listedElements(netnsPath: string): Promise<Element[]> {
  let stdout: string;
  try {
    ({ stdout } = await execIn(netnsPath, LIST_TABLE_JSON));
  } catch (error) {
    if (/No such file or directory/.test(String((error as { stderr?: string }).stderr ?? error))) return [];
    throw error;
  }
  return parseListedTable(stdout, antispoofRuleset()).elements;
}

/** The ports the table's elements refer to, sorted. */
export async function guardedPorts(netnsPath: string): Promise<string[]> {
  return [...new Set((await listedElements(netnsPath)).map((e) => elementPort(e)!))].sort();
}
