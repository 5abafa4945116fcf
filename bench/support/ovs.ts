// bench:cni's OVS round: the same executable with "bridgeType": "ovs" on a node namespace of its
// own, whose ovsdb-server and ovs-vswitchd (userspace datapath: this kernel has no openvswitch
// module) the benchmark starts (test/support/ovs.ts), in the same rounds as bridge mode. Part of
// an OVS attachment's work is done by those two daemons, outside the plugin's process: their CPU
// time is read from /proc over the rounds and reported beside the plugin's, with their idle rate.
import fs from 'node:fs';
import path from 'node:path';
import { TestOvs } from '../../test/support/ovs.ts';
import type { Lab } from './lab.ts';
import { BRIDGE, type PluginUnderTest } from './plugins.ts';
import type { Round } from './rounds.ts';
import { median, ms, ratio, table } from './stats.ts';

export const OVS_LABEL = 'bridgeway-ovs'; // also part of the container IDs: no spaces
/** The OVS lane with its anti-spoofing flows (the default on OVS), on an OVS of its own. */
export const OVS_GUARD_LABEL = 'bridgeway-ovs-guarded';

const CLK_TCK = 100;

/**
 * Bridge mode's plugin on an OVS bridge of a database started here for it: without anti-spoofing
 * (like for like with bridge mode's "off"), or with its OpenFlow guard flows (`guarded`, on an OVS
 * of its own), which is what an OVS network gets by default.
 */
export async function onOvs(lab: Lab, plugin: PluginUnderTest, options: { guarded?: boolean } = {}): Promise<{ plugin: PluginUnderTest; ovs: TestOvs }> {
  const ovs = await TestOvs.start(lab, path.basename(plugin.nodeNetns), { dir: lab.subdir(options.guarded ? 'ovs-guarded' : 'ovs') });
  return {
    ovs,
    plugin: {
      ...plugin,
      label: options.guarded ? OVS_GUARD_LABEL : OVS_LABEL,
      netconf: { ...plugin.netconf, bridgeType: 'ovs', ovsdbSocket: ovs.socket, ovsDatapath: 'netdev', antiSpoofing: options.guarded === true },
      listPorts: async () => (await ovs.vsctl(['list-ports', BRIDGE])).split('\n').filter(Boolean),
    },
  };
}

/** User + system CPU ms of these running processes, from /proc/<pid>/stat. */
export function processesCpuMs(pids: readonly number[]): number {
  return pids.reduce((sum, pid) => {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return sum + ((Number(fields[14 - 3]) + Number(fields[15 - 3])) * 1000) / CLK_TCK;
  }, 0);
}

/** The daemons' CPU over the rounds (and how long they took), and at rest (sampled before them). */
export interface DaemonCpu {
  roundsMs: number;
  roundsSeconds: number;
  /** CPU ms per second at rest. */
  idleRate: number;
  /** ADD+CHECK+DEL cycles of the OVS lane in the rounds. */
  cycles: number;
}

/** The daemons' CPU ms per second while nothing happens. */
export async function idleCpuRate(ovs: TestOvs, seconds: number): Promise<number> {
  const before = processesCpuMs(ovs.pids());
  await new Promise((resolve) => setTimeout(resolve, seconds * 1000));
  return (processesCpuMs(ovs.pids()) - before) / seconds;
}

export function printOvsCost(rounds: readonly Round[], concurrency: readonly number[], linuxLabels: { guarded: string; unguarded: string }, daemons: DaemonCpu): void {
  const of = (label: string, c: number) => rounds.find((r) => r.plugin === label && r.concurrency === c)?.phases;
  const rows: string[][] = [['op', 'c', 'ovs p50', 'cpu', 'linux p50', 'cpu', 'ovs/linux p50', 'cpu', 'linux+antiSpoofing p50', 'ovs/it p50', 'ovs+guard p50', 'cpu', 'ovs+guard/ovs p50', 'cpu']];
  for (const c of concurrency) {
    for (const op of ['ADD', 'DEL'] as const) {
      const ovs = of(OVS_LABEL, c)?.[op];
      const linux = of(linuxLabels.unguarded, c)?.[op];
      const guarded = of(linuxLabels.guarded, c)?.[op];
      const ovsGuarded = of(OVS_GUARD_LABEL, c)?.[op];
      if (!ovs || !linux || !guarded) continue;
      rows.push([op, String(c), ms(median(ovs.samples)), ms(ovs.cpuMs), ms(median(linux.samples)), ms(linux.cpuMs),
        ratio(median(ovs.samples) / median(linux.samples)), ratio(ovs.cpuMs / linux.cpuMs), ms(median(guarded.samples)), ratio(median(ovs.samples) / median(guarded.samples)),
        ...(ovsGuarded ? [ms(median(ovsGuarded.samples)), ms(ovsGuarded.cpuMs), ratio(median(ovsGuarded.samples) / median(ovs.samples)), ratio(ovsGuarded.cpuMs / ovs.cpuMs)] : ['-', '-', '-', '-'])]);
    }
  }
  console.log('\nOpen vSwitch ("bridgeType": "ovs", userspace datapath) vs the Linux bridge, same executable, same rounds; ovs and linux = "antiSpoofing": false; ovs+guard = OVS with its anti-spoofing flows (the default there)');
  console.log(table(rows, ['left']));
  const idleMs = daemons.idleRate * daemons.roundsSeconds;
  const perCycle = (daemons.roundsMs - idleMs) / daemons.cycles;
  console.log(`cpu above is the plugin's process only; ovsdb-server + ovs-vswitchd used ${ms(daemons.roundsMs)} ms in the ${daemons.roundsSeconds.toFixed(1)} s of rounds (${ms(idleMs)} ms of it their rate at rest): `
    + `${ms(perCycle)} ms per ADD+CHECK+DEL cycle on top (${daemons.cycles} cycles)`);
}
