// Which iptables to drive: the one kube-proxy uses. Rules written with iptables-legacy are
// invisible to iptables-nft and vice versa, so picking the other one silently breaks traffic.
// Like kube-proxy's iptables-wrapper: prefer the backend that holds kube-proxy's chains, then
// the one with more rules, else nft (Debian's default since bullseye).
import type { Runner } from '../exec.ts';
import { inNetns } from '../iproute2/netns.ts';

export type IptablesMode = 'nft' | 'legacy';

export interface IptablesBackend {
  mode: IptablesMode;
  save: string;
  restore: string;
  iptables: string;
  /** Why this one was chosen, for the log. */
  reason: string;
}

/** The commands of a backend; family 6 drives ip6tables (the same backend as IPv4's, see detectBackend). */
export function backendFor(mode: IptablesMode, reason: string, family: 4 | 6 = 4): IptablesBackend {
  const tool = family === 6 ? 'ip6tables' : 'iptables';
  return { mode, save: `${tool}-${mode}-save`, restore: `${tool}-${mode}-restore`, iptables: `${tool}-${mode}`, reason };
}

/**
 * Probes with iptables-save, or with ip6tables-save for family 6 (an IPv6-only node; kube-proxy
 * then has its chains there). A dual-stack agent uses IPv4's choice for both families, as
 * kube-proxy's iptables-wrapper picks one mode for iptables and ip6tables alike.
 */
export async function detectBackend(run: Runner, options: { netns?: string; forced?: IptablesMode; family?: 4 | 6 } = {}): Promise<IptablesBackend> {
  const family = options.family ?? 4;
  if (options.forced) return backendFor(options.forced, 'set by configuration', family);
  const saved: Partial<Record<IptablesMode, string>> = {};
  for (const mode of ['nft', 'legacy'] as const) {
    try {
      saved[mode] = (await run(inNetns(options.netns, [backendFor(mode, '', family).save]))).stdout;
    } catch {
      // not installed or not usable in this kernel
    }
  }
  const chosen = chooseBackend(saved);
  return backendFor(chosen.mode, chosen.reason, family);
}

/** Pure: the choice from each backend's iptables-save output (absent: that backend does not work). */
export function chooseBackend(saved: Partial<Record<IptablesMode, string>>, forced?: IptablesMode): IptablesBackend {
  if (forced) return backendFor(forced, 'set by configuration');
  const counts: Partial<Record<IptablesMode, { rules: number; kube: boolean }>> = {};
  for (const mode of ['nft', 'legacy'] as const) {
    const stdout = saved[mode];
    if (stdout !== undefined) counts[mode] = { rules: stdout.split('\n').filter((l) => l.startsWith('-A ')).length, kube: holdsKubeProxyChains(stdout) };
  }
  const { nft, legacy } = counts;
  if (!nft && !legacy) throw new Error('neither iptables-nft-save nor iptables-legacy-save works; install the iptables package');
  if (!nft) return backendFor('legacy', 'iptables-nft is not available');
  if (!legacy) return backendFor('nft', 'iptables-legacy is not available');
  if (legacy.kube !== nft.kube) return backendFor(legacy.kube ? 'legacy' : 'nft', 'it holds kube-proxy\'s KUBE-* chains');
  if (legacy.rules > nft.rules) return backendFor('legacy', `it has more rules (${legacy.rules} vs ${nft.rules})`);
  return backendFor('nft', nft.rules > 0 ? `it has more rules (${nft.rules} vs ${legacy.rules})` : 'no rules anywhere yet: the default');
}

/** kube-proxy's iptables mode declares KUBE-* chains (KUBE-SERVICES, KUBE-POSTROUTING, ...). */
export function holdsKubeProxyChains(saved: string): boolean {
  return /^:KUBE-/m.test(saved);
}
