// Run by Bun (node_modules/.bin/bun) for antispoof-nftables.test.ts: the plugin's own nfnetlink
// path, as the Bun executable will take it, on one namespace. argv: the namespace's path, then a
// JSON {port, mac, addresses[]} attachment, then operations: install, add, delete, list (every
// element read back with GETSETELEM dumps, as elementId strings). Prints one JSON line per operation.
import { parseIp } from '../../lib/cidr.ts';
import { addElements, deleteElements, installTable, listElements } from '../../lib/antispoof/netlink.ts';
import { elementId } from '../../lib/antispoof/nft-json.ts';
import { antispoofRuleset, attachmentElements } from '../../lib/antispoof/ruleset.ts';
import { loadLibc, NETLINK_NETFILTER, NetlinkSocket } from '../../lib/netlink/socket.ts';

const [netnsPath, attachmentJson, ...operations] = process.argv.slice(2);
const libc = loadLibc();
if (!libc) throw new Error('no FFI: run this with Bun');
const socket = NetlinkSocket.open(libc, NETLINK_NETFILTER, netnsPath);
const ruleset = antispoofRuleset();
const attachment = JSON.parse(attachmentJson!) as { port: string; mac: string; addresses: string[] };
const elements = attachmentElements({ ...attachment, addresses: attachment.addresses.map((a) => parseIp(a)!) });
for (const operation of operations) {
  if (operation === 'install') console.log(JSON.stringify({ installed: installTable(socket, ruleset) }));
  else if (operation === 'add') {
    addElements(socket, ruleset, elements);
    console.log(JSON.stringify({ added: elements.length }));
  } else if (operation === 'delete') {
    deleteElements(socket, ruleset, elements);
    console.log(JSON.stringify({ deleted: elements.length }));
  } else if (operation === 'list') {
    console.log(JSON.stringify({ listed: listElements(socket, ruleset).map(elementId).sort() }));
  } else throw new Error(`unknown operation ${operation}`);
}
