// Small timings that explain the plugin numbers: the cost of the nsenter wrapper, of Node's
// start-up (with and without this machine's environment), of loading our bundle, and of
// iproute2 changes batched into one process versus one process each.
import { childrenCpuMs, helperEnv, IP, mustRun, NSENTER, timeRepeatedly, type Invocation, type Timings } from './exec.ts';
import { cniInvocation, inNode, type PluginUnderTest } from './plugins.ts';

export interface Probe extends Timings {
  label: string;
}

/** Five changes that leave the namespace as they found it (veth: this kernel may lack dummy). */
const FIVE_CHANGES = [
  'link add bwbench0 type veth peer name bwbench1',
  'link set bwbench0 up',
  'addr add 10.98.0.1/24 dev bwbench0',
  'route add 10.97.0.0/24 via 10.98.0.2',
  'link del bwbench0',
];

export interface ProbeTargets {
  count: number;
  floor: string;
  ours: PluginUnderTest;
  reference: PluginUnderTest;
  /** A namespace (name, for `ip -n`) used for nothing else. */
  scratch: string;
  scratchPath: string;
}

export async function runProbes(t: ProbeTargets): Promise<Probe[]> {
  const node = t.ours.nodeNetns;
  const probe = async (label: string, make: () => Invocation): Promise<Probe> => ({ label, ...(await timeRepeatedly(t.count, make)) });
  const parentEnv = Object.fromEntries(Object.entries(process.env).filter((entry): entry is [string, string] => entry[1] !== undefined));
  const batch = FIVE_CHANGES.map((line) => `${line}\n`).join('');
  return [
    await probe('nsenter --net=<node> /bin/true (the wrapper alone)', () => ({ argv: inNode(node, ['/bin/true']), env: {} })),
    await probe('floor, exec directly, empty env', () => ({ argv: [t.floor], env: {} })),
    await probe(`floor, exec directly, the bench's own env${process.env.NODE_EXTRA_CA_CERTS ? ' (has NODE_EXTRA_CA_CERTS)' : ''}`, () => ({
      argv: [t.floor],
      env: parentEnv,
    })),
    await probe('bridgeway VERSION via wrapper (start-up + bundle load)', () => cniInvocation(t.ours, 'VERSION')),
    await probe('reference bridge VERSION via wrapper (Go start-up)', () => cniInvocation(t.reference, 'VERSION')),
    await probe('ip -n <ns> -batch: 5 changes in 1 process', () => ({ argv: [IP, '-n', t.scratch, '-force', '-batch', '-'], env: helperEnv(), input: batch })),
    { label: 'ip -n <ns> ...: the same 5 changes as 5 processes', ...(await fiveSpawns(t.count, t.scratch)) },
    await probe('nsenter --net=<ns> ip -batch: 5 changes (how ADD enters the pod)', () => ({
      argv: [NSENTER, `--net=${t.scratchPath}`, '--', IP, '-force', '-batch', '-'],
      env: helperEnv(),
      input: batch,
    })),
  ];
}

async function fiveSpawns(count: number, netns: string): Promise<Timings> {
  const samples: number[] = [];
  const cpu = childrenCpuMs();
  for (let i = 0; i < count; i++) {
    let total = 0;
    for (const line of FIVE_CHANGES) total += (await mustRun({ argv: [IP, '-n', netns, ...line.split(' ')], env: helperEnv() })).ms;
    samples.push(total);
  }
  return { samples, cpuMs: (childrenCpuMs() - cpu) / count };
}
