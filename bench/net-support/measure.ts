// One measurement between two network namespaces: iperf3 TCP throughput (a one-off server in
// the far namespace, the client in the near one, JSON output) and ping round-trip times.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { run } from '../../test/support/exec-in.ts';
import type { Lab } from '../support/lab.ts';

export const IPERF3 = '/usr/bin/iperf3';
export const PING = '/usr/bin/ping';

export interface Endpoint {
  netns: string;
  ip: string;
}

const inNetns = (netns: string, argv: string[]) => ['nsenter', `--net=${netns}`, '--', ...argv];

/**
 * Received bits per second over `seconds` (after a 1 s omitted warm-up), `streams` parallel TCP
 * connections from `from` to `to`. The server serves exactly one test (-1) and is tracked by the
 * lab, so an interrupted bench kills it.
 */
export async function throughput(lab: Lab, from: Endpoint, to: Endpoint, streams: number, seconds: number): Promise<number> {
  const server = spawn('nsenter', [`--net=${to.netns}`, '--', IPERF3, '-s', '-1', '-B', to.ip, '-p', '5201'], { stdio: ['ignore', 'ignore', 'pipe'] });
  lab.track(server);
  let serverError = '';
  server.stderr.on('data', (chunk) => (serverError += chunk));
  const exited = once(server, 'exit');
  try {
    for (let attempt = 0; ; attempt++) {
      // iperf3 -J reports its errors inside the JSON document (exit status 1): read it either way.
      const argv = inNetns(from.netns, [IPERF3, '-c', to.ip, '-p', '5201', '-t', String(seconds), '-O', '1', '-P', String(streams), '-J']);
      const stdout = await run(argv, { timeoutMs: (seconds + 20) * 1000 }).then((r) => r.stdout, (error: { stdout?: string; message: string }) => error.stdout || JSON.stringify({ error: error.message }));
      const report = JSON.parse(stdout);
      const bps = report.end?.sum_received?.bits_per_second;
      if (typeof bps === 'number' && !report.error) return bps;
      // The server may not listen yet ("Connection refused"): retry for up to 2 s.
      if (attempt >= 20 || !/refused|unable to connect/i.test(String(report.error))) throw new Error(`iperf3 ${from.ip} -> ${to.ip}: ${report.error ?? 'no result'} ${serverError}`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  } finally {
    if (server.exitCode === null) server.kill('SIGKILL');
    await exited;
  }
}

/** Per-packet round-trip times in ms of `count` pings, 10 ms apart. */
export async function pingTimes(from: Endpoint, to: Endpoint, count: number): Promise<number[]> {
  const { stdout } = await run(inNetns(from.netns, [PING, '-n', '-c', String(count), '-i', '0.01', '-W', '1', to.ip]), { timeoutMs: 30_000 });
  const times = [...stdout.matchAll(/time=([\d.]+) ms/g)].map((m) => Number(m[1]));
  if (times.length < count * 0.9) throw new Error(`ping ${from.ip} -> ${to.ip}: ${count - times.length} of ${count} lost`);
  return times;
}
