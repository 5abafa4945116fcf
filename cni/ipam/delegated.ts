// Delegated IPAM: the plugin named by ipam.type, found in CNI_PATH and run with our own config
// and the same CNI_* variables, as the spec says a main plugin calls its IPAM plugin.
import path from 'node:path';
import fs from 'node:fs';
import { formatCidr, parseCidr, parseIp } from '../../lib/cidr.ts';
import { errorMessage } from '../../lib/errors.ts';
import { CommandError, type Runner } from '../../lib/exec.ts';
import type { DelegatedIpam } from '../config/ipam.ts';
import type { NetConf } from '../config/netconf.ts';
import { CniError, ErrorCode } from '../errors.ts';
import type { PodAddressing } from '../plan.ts';
import type { CmdArgs } from '../skel.ts';
import type { IpamBackend } from './backend.ts';

export function delegatedIpam(conf: NetConf, ipam: DelegatedIpam, args: CmdArgs, run: Runner): IpamBackend {
  const invoke = async (command: 'ADD' | 'DEL' | 'CHECK', extra: Record<string, unknown> = {}): Promise<string> => {
    const executable = findPlugin(ipam.type, args.cniPath);
    try {
      const { stdout } = await run([executable], {
        input: JSON.stringify({ ...conf.raw, ...extra }),
        env: {
          CNI_COMMAND: command,
          CNI_CONTAINERID: args.containerId,
          CNI_NETNS: args.netns,
          CNI_IFNAME: args.ifname,
          CNI_ARGS: args.rawArgs,
          CNI_PATH: args.cniPath.join(':'),
        },
      });
      return stdout;
    } catch (error) {
      if (!(error instanceof CommandError)) throw error;
      throw new CniError(ErrorCode.DelegatedIpamFailed, `IPAM plugin ${ipam.type} ${command} failed: ${delegateMessage(error)}`);
    }
  };
  return {
    async add() {
      const stdout = await invoke('ADD');
      try {
        const addressing = addressingFromResult(ipam.type, stdout);
        return { ...addressing, fresh: addressing.ips.map((ip) => ip.address.family) };
      } catch (error) {
        // The plugin may have reserved an address all the same: give it back before failing.
        const undo = await invoke('DEL').then(() => '', (e: unknown) => `; releasing it with DEL failed too: ${errorMessage(e)}`);
        if (undo) throw new CniError(ErrorCode.DelegatedIpamFailed, `${errorMessage(error)}${undo}`);
        throw error;
      }
    },
    async del() {
      await invoke('DEL');
      return 'delegated' as const;
    },
    async check(address) {
      await invoke('CHECK', { prevResult: { cniVersion: conf.cniVersion, ips: [{ address: formatCidr(address) }] } });
    },
  };
}

/** The executable for a plugin type in CNI_PATH; a CniError (code 7) naming the search path if absent. */
export function findPlugin(type: string, cniPath: string[]): string {
  for (const dir of cniPath) {
    const candidate = path.join(dir, type);
    try {
      fs.accessSync(candidate, fs.constants.X_OK);
      return candidate;
    } catch {
      // try the next directory
    }
  }
  throw new CniError(
    ErrorCode.InvalidNetworkConfig,
    `IPAM plugin ${JSON.stringify(type)} not found in CNI_PATH (${cniPath.join(':') || 'empty'}); install it or drop ipam.type to use the built-in IPAM`,
  );
}

function delegateMessage(error: CommandError): string {
  try {
    const parsed = JSON.parse(error.stdout) as { code?: number; msg?: string; details?: string };
    if (parsed.msg) return `${parsed.msg}${parsed.details ? ` (${parsed.details})` : ''} [code ${parsed.code}]`;
  } catch {
    // not JSON: fall through to the raw text
  }
  return (error.stdout.trim() || error.stderr.trim() || error.message).slice(0, 2000);
}

/** The first address of each family in the plugin's result, with its gateway, and the routes. */
function addressingFromResult(type: string, stdout: string): PodAddressing {
  let result: { ips?: { address?: string; gateway?: string }[]; routes?: { dst?: string; gw?: string }[] };
  try {
    result = JSON.parse(stdout);
  } catch {
    throw new CniError(ErrorCode.DelegatedIpamFailed, `IPAM plugin ${type} printed no JSON result`);
  }
  const ips: PodAddressing['ips'] = [];
  for (const entry of result.ips ?? []) {
    const address = parseCidr(entry.address ?? '');
    if (!address || ips.some((ip) => ip.address.family === address.family)) continue;
    const gateway = entry.gateway ? parseIp(entry.gateway) : undefined;
    ips.push({ address, gateway: gateway?.family === address.family ? gateway : undefined });
  }
  if (ips.length === 0) throw new CniError(ErrorCode.DelegatedIpamFailed, `IPAM plugin ${type} returned no address`);
  // As libcni's ConfigureIface does: a route without gw goes via the gateway of its family.
  const routes = (result.routes ?? []).flatMap((r) => {
    const dst = parseCidr(r.dst ?? '');
    if (!dst || !ips.some((ip) => ip.address.family === dst.family)) return [];
    const gw = r.gw ? parseIp(r.gw) : ips.find((ip) => ip.address.family === dst.family)?.gateway;
    return [{ dst, gw: gw?.family === dst.family ? gw : undefined }];
  });
  return { ips, routes };
}
