// iptables-save output as data: per table, the chains and their rules (as the rule text after
// "-A <chain> "), so desired and actual rules compare as plain strings.

export interface TableState {
  chains: Set<string>;
  rules: Map<string, string[]>;
}

export type SavedTables = Map<string, TableState>;

export function parseIptablesSave(text: string): SavedTables {
  const tables: SavedTables = new Map();
  let current: TableState | undefined;
  for (const line of text.split('\n')) {
    if (line.startsWith('*')) {
      current = { chains: new Set(), rules: new Map() };
      tables.set(line.slice(1).trim(), current);
    } else if (!current) {
      continue;
    } else if (line.startsWith(':')) {
      current.chains.add(line.slice(1).split(' ')[0]!);
    } else if (line.startsWith('-A ')) {
      const rest = line.slice(3);
      const space = rest.indexOf(' ');
      const chain = space < 0 ? rest : rest.slice(0, space);
      const rule = space < 0 ? '' : rest.slice(space + 1);
      const list = current.rules.get(chain) ?? [];
      list.push(rule);
      current.rules.set(chain, list);
    }
  }
  return tables;
}

export function rulesOf(tables: SavedTables, table: string, chain: string): string[] {
  return tables.get(table)?.rules.get(chain) ?? [];
}
