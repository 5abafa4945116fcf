// Where a pod's address comes from: the built-in allocator (default: no second process on the
// hot path) or an IPAM plugin named by ipam.type, executed through CNI_PATH as the spec says.
import path from 'node:path';
import fs from 'node:fs';
import { formatCidr, formatIpv4, parseIpv4, parseIpv4Cidr, type Ipv4Cidr } from '../lib/cidr.ts';
import { errorMessage } from '../lib/errors.ts';
import { CommandError, type Runner } from '../lib/exec.ts';
import { allocate } from '../ipam/allocator.ts';
import type { Attachment, IpamStore } from '../ipam/store.ts';
import type { BuiltinIpam, DelegatedIpam, NetConf } from './config.ts';
import { CniError, ErrorCode } from './errors.ts';
import type { PodAddressing } from './plan.ts';
import type { CmdArgs } from './skel.ts';

/** What releasing did: the address freed, nothing was held, or the IPAM plugin did it (it does not say what). */
export type Released = { address: string } | 'none' | 'delegated';

export interface IpamBackend {
  /** Reserves (or finds again) the attachment's address. `fresh` false: it was already held. */
  add(): Promise<PodAddressing & { fresh: boolean }>;
  /** Releases the attachment's address; nothing reserved is success. */
  del(): Promise<Released>;
  /** Throws CniError unless the attachment still holds `address`. */
  check(address: Ipv4Cidr): Promise<void>;
}

export function ipamFor(conf: NetConf, args: CmdArgs, deps: { run: Runner; store: () => IpamStore }): IpamBackend {
  const attachment = { containerId: args.containerId, ifname: args.ifname };
  return conf.ipam.kind === 'builtin'
    ? builtinIpam(conf, conf.ipam, attachment, deps.store())
    : delegatedIpam(conf, conf.ipam, args, deps.run);
}

function builtinIpam(conf: NetConf, ipam: BuiltinIpam, attachment: Attachment, store: IpamStore): IpamBackend {
  const routeGateway = conf.isGateway ? ipam.gateway : undefined;
  return {
    async add() {
      const { ip, fresh } = allocate(store, ipam.range, attachment);
      const routes = ipam.routes
        .filter((r) => r.gw !== undefined || (routeGateway !== undefined && (r.dst.prefixLength > 0 || conf.isDefaultGateway)))
        .map((r) => ({ dst: r.dst, gw: r.gw ?? routeGateway }));
      return { address: { address: ip, prefixLength: ipam.range.subnet.prefixLength }, gateway: ipam.gateway, routes, fresh };
    },
    async del() {
      const ip = store.release(attachment);
      return ip === undefined ? 'none' : { address: formatIpv4(ip) };
    },
    async check(address) {
      const held = store.lookup(attachment);
      if (held !== address.address) {
        throw new CniError(
          ErrorCode.CheckFailed,
          held === undefined
            ? `IPAM has no reservation for ${attachment.containerId}/${attachment.ifname}`
            : `IPAM reserved ${formatIpv4(held)} for ${attachment.containerId}/${attachment.ifname}, not ${formatCidr(address)}`,
        );
      }
    },
  };
}

function delegatedIpam(conf: NetConf, ipam: DelegatedIpam, args: CmdArgs, run: Runner): IpamBackend {
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
        return { ...addressingFromResult(ipam.type, stdout), fresh: true };
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

function addressingFromResult(type: string, stdout: string): PodAddressing {
  let result: { ips?: { address?: string; gateway?: string }[]; routes?: { dst?: string; gw?: string }[] };
  try {
    result = JSON.parse(stdout);
  } catch {
    throw new CniError(ErrorCode.DelegatedIpamFailed, `IPAM plugin ${type} printed no JSON result`);
  }
  const first = result.ips?.map((ip) => ({ cidr: parseIpv4Cidr(ip.address ?? ''), gateway: ip.gateway })).find((ip) => ip.cidr);
  if (!first?.cidr) throw new CniError(ErrorCode.DelegatedIpamFailed, `IPAM plugin ${type} returned no IPv4 address`);
  const gateway = first.gateway ? parseIpv4(first.gateway) : undefined;
  // As libcni's ConfigureIface does: a route without gw goes via the address's gateway.
  const routes = (result.routes ?? []).flatMap((r) => {
    const dst = parseIpv4Cidr(r.dst ?? '');
    return dst ? [{ dst, gw: r.gw ? parseIpv4(r.gw) : gateway }] : [];
  });
  return { address: first.cidr, gateway, routes };
}
