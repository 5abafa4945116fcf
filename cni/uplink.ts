// ADD's part for a network with "uplink": the bridge holds the LAN NIC, with the node's addresses
// and routes moved onto it (lib/uplink/: the pure plan, the kernel changes of each step, the apply
// that undoes a half-done move). Run on every ADD before anything is allocated, so a refusal
// leaves nothing. Everything goes through the plugin's Kernel, so on Bun the move, like the rest
// of ADD, starts no process: one read of the node (links, addresses, both main tables), the plan
// (none when the move is complete: the common case), the refusals (a NIC with the node's default
// route without "uplinkTakeover", a NIC NetworkManager manages), and the steps applied; a failure
// undoes them.
// Returns the bridge's MAC (the NIC's), which the bridge keeps: bridge-mac.ts's pin would
// otherwise see a bridge carrying a port's MAC and re-address it.
import { errorMessage } from '../lib/errors.ts';
import type { Kernel } from '../lib/kernel/kernel.ts';
import type { Logger } from '../lib/log.ts';
import { applyUplinkSteps, UplinkStepError } from '../lib/uplink/apply.ts';
import { networkManagerManages, nmcliBridgeRecipe, NM_RUN_DIR } from '../lib/uplink/network-manager.ts';
import { planMove, UplinkRefused } from '../lib/uplink/plan.ts';
import { readUplinkState } from '../lib/uplink/read.ts';
import { isDefaultRoute } from '../lib/uplink/state.ts';
import type { NetConf } from './config/netconf.ts';
import { CniError, ErrorCode } from './errors.ts';

export interface UplinkDeps {
  kernel: Kernel;
  log: Logger;
  /** Where NetworkManager keeps its device states. */
  nmRunDir?: string;
  /** Tests only: see lib/uplink/apply.ts. */
  failAfter?: number;
}

/** The fault-injection variable of the uplink move (tests only; see lib/uplink/apply.ts). */
export function uplinkFaultFromEnv(env: Record<string, string | undefined>): number | undefined {
  const value = env.BRIDGEWAY_TEST_UPLINK_FAIL_AFTER;
  return value !== undefined && /^\d+$/.test(value) ? Number(value) : undefined;
}

export async function ensureUplink(conf: Pick<NetConf, 'bridge' | 'uplink' | 'uplinkTakeover'>, deps: UplinkDeps): Promise<string> {
  const nic = conf.uplink!;
  const state = await readUplinkState(deps.kernel);
  let steps;
  try {
    steps = planMove(state, nic, conf.bridge);
  } catch (error) {
    if (error instanceof UplinkRefused) throw new CniError(ErrorCode.InvalidNetworkConfig, `cannot use "uplink": ${error.message}`);
    throw error;
  }
  const nicLink = state.links.find((l) => l.name === nic)!;
  if (steps.length === 0) return nicLink.mac;
  if (networkManagerManages(nicLink.index, deps.nmRunDir ?? NM_RUN_DIR)) {
    throw new CniError(
      ErrorCode.InvalidNetworkConfig,
      `cannot use "uplink": NetworkManager manages ${nic} and would undo the move; make the bridge with NetworkManager instead: ${nmcliBridgeRecipe(nic, conf.bridge)}`,
    );
  }
  const defaults = state.routes.filter((r) => r.dev === nic && isDefaultRoute(r));
  if (defaults.length > 0 && !conf.uplinkTakeover) {
    const via = defaults.map((r) => `${r.family === 6 ? 'IPv6' : 'IPv4'} default via ${r.gateway ?? nic}`).join(', ');
    throw new CniError(
      ErrorCode.InvalidNetworkConfig,
      `cannot use "uplink": ${nic} carries the node's default route (${via}); moving it onto ${conf.bridge} briefly touches the node's own connectivity. ` +
        `Set "uplinkTakeover": true in the network config to allow it, or name a NIC without the default route`,
    );
  }
  deps.log.info({ nic, bridge: conf.bridge, steps: steps.length }, 'moving the uplink NIC\'s addresses and routes onto the bridge');
  try {
    await applyUplinkSteps(deps.kernel, steps, deps.log, deps.failAfter !== undefined ? { failAfter: deps.failAfter } : {});
  } catch (error) {
    if (error instanceof UplinkStepError) throw new CniError(ErrorCode.KernelOperationFailed, `moving uplink ${nic} onto ${conf.bridge} failed: ${error.message}`);
    throw new CniError(ErrorCode.KernelOperationFailed, `moving uplink ${nic} onto ${conf.bridge} failed: ${errorMessage(error)}`);
  }
  return nicLink.mac;
}
