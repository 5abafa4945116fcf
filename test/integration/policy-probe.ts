// Reachability probes for the NetworkPolicy integration test, run by Node inside a namespace
// (nsenter ... node policy-probe.ts ...). No nc or socat on our machines, so this is both ends:
//   serve <tcp ports,> <udp ports,>   answers "ok" on each port, both families (a :: socket takes
//                                     IPv4 too); prints "ready" once every port listens
//   probe <json [{to, proto, port, from?}]>  tries each at once, prints [true|false, ...] as JSON:
//                                     TCP: connected and read "ok"; UDP: a datagram answered.
// A probe that gets no answer within the timeout counts as denied: a drop looks exactly like that.
import dgram from 'node:dgram';
import net from 'node:net';

const TIMEOUT_MS = 1500;

function serve(tcp: number[], udp: number[]): void {
  let pending = tcp.length + udp.length;
  const ready = () => { if (--pending === 0) process.stdout.write('ready\n'); };
  for (const port of tcp) {
    net.createServer((socket) => { socket.on('error', () => {}); socket.end('ok'); }).listen({ port, host: '::', ipv6Only: false }, ready);
  }
  for (const port of udp) {
    const socket = dgram.createSocket({ type: 'udp6', ipv6Only: false });
    socket.on('message', (_msg, from) => socket.send('ok', from.port, from.address));
    socket.bind(port, '::', ready);
  }
}

interface Probe { to: string; proto: 'tcp' | 'udp'; port: number; from?: string }

function probeTcp(p: Probe): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: p.to, port: p.port, ...(p.from ? { localAddress: p.from } : {}) });
    let data = '';
    const done = (ok: boolean) => { clearTimeout(timer); socket.destroy(); resolve(ok); };
    const timer = setTimeout(() => done(false), TIMEOUT_MS);
    socket.on('data', (chunk) => { data += chunk; if (data === 'ok') done(true); });
    socket.on('error', () => done(false));
  });
}

function probeUdp(p: Probe): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = dgram.createSocket(net.isIPv6(p.to) ? 'udp6' : 'udp4');
    const done = (ok: boolean) => { clearTimeout(timer); socket.close(); resolve(ok); };
    const timer = setTimeout(() => done(false), TIMEOUT_MS);
    socket.on('message', (msg) => done(msg.toString() === 'ok'));
    socket.on('error', () => done(false));
    socket.bind({ port: 0, ...(p.from ? { address: p.from } : {}) }, () => socket.send('hi', p.port, p.to));
  });
}

const [mode, ...args] = process.argv.slice(2);
if (mode === 'serve') {
  const list = (text = '') => text.split(',').filter(Boolean).map(Number);
  serve(list(args[0]), list(args[1]));
} else if (mode === 'probe') {
  const probes = JSON.parse(args[0]!) as Probe[];
  const results = await Promise.all(probes.map((p) => (p.proto === 'tcp' ? probeTcp(p) : probeUdp(p))));
  process.stdout.write(`${JSON.stringify(results)}\n`);
} else {
  process.stderr.write('usage: policy-probe.ts serve <tcp,ports> <udp,ports> | probe <json>\n');
  process.exit(2);
}
