// `bridgeway-agent uninstall`: remove everything the agent and the plugin put on the node. Keeps
// going past errors so one stuck object does not keep the rest in place.
import fs from 'node:fs';
import path from 'node:path';
import { errorMessage } from '../lib/errors.ts';
import type { Runner } from '../lib/exec.ts';
import { deleteLink } from '../lib/iproute2/link.ts';
import { runIpBatch } from '../lib/iproute2/batch.ts';
import { listRoutes } from '../lib/iproute2/route.ts';
import { backendFor } from '../lib/iptables/backend.ts';
import { parseIptablesSave } from '../lib/iptables/save.ts';
import type { Logger } from '../lib/log.ts';
import type { AgentConfig } from './config.ts';
import { CONFLIST_NAME } from './conflist.ts';
import { removalPayload } from './plan-iptables.ts';
import { ROUTE_PROTO } from './plan-routes.ts';

export async function uninstall(config: AgentConfig, deps: { run: Runner; log: Logger }): Promise<string[]> {
  const { run, log } = deps;
  const failures: string[] = [];
  const step = async (what: string, action: () => Promise<unknown> | unknown) => {
    try {
      await action();
      log.info(`removed ${what}`);
    } catch (error) {
      failures.push(`${what}: ${errorMessage(error)}`);
    }
  };
  // The conflist first: from then on the runtime stops sending new pods to a half-removed network.
  await step('the conflist', () => fs.rmSync(path.join(config.cniConfDir, CONFLIST_NAME), { force: true }));
  await step('routes', async () => {
    const ours = (await listRoutes(run)).filter((r) => r.protocol === ROUTE_PROTO);
    await runIpBatch(run, ours.map((r) => ({ args: ['route', 'del', r.dst, 'proto', ROUTE_PROTO], tolerate: 'missing' as const })));
  });
  // Chains are removed from both backends: a previous run may have used either.
  for (const mode of ['nft', 'legacy'] as const) {
    const backend = backendFor(mode, 'uninstall');
    await step(`iptables-${mode} chains`, async () => {
      let saved: string;
      try {
        saved = (await run([backend.save])).stdout;
      } catch {
        return; // this backend is not available: nothing of ours can be there
      }
      const payload = removalPayload(parseIptablesSave(saved));
      if (payload) await run([backend.restore, '--noflush', '-w', '5'], { input: payload });
    });
  }
  await step('the bridge', () => deleteLink(run, config.bridge));
  await step('the plugin', () => fs.rmSync(path.join(config.cniBinDir, 'bridgeway'), { force: true }));
  await step('the IPAM state', () => fs.rmSync(config.dataDir, { recursive: true, force: true }));
  return failures;
}
