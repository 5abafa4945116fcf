// Reachability probes for the NetworkPolicy integration test, run by Node inside a namespace
// (nsenter ... node policy-probe.ts ...). No nc or socat on our machines, so this is both ends:
//   serve <tcp ports,> <udp ports,> [echo ports,]  answers "ok" on each port, both families (a ::
//                                     socket takes IPv4 too), and echoes on the echo ports (TCP,
//                                     kept open); prints "ready" once every port listens
//   hold <address> <port>             one TCP connection to an echo port, kept: a byte every
//                                     100 ms, "." printed per echo; exits when the connection ends
//   probe <json [{to, proto, port, from?}]> [timeoutMs]  tries each at once, prints [true|false, ...] as JSON:
//                                     TCP: connected and read "ok"; UDP: a datagram answered.
//   prober                            the probe mode kept running, so a run of checks does not
//                                     start a process per check: reads one JSON request a line,
//                                     {id, probes, timeoutMs}, answers {id, results} a line;
//                                     prints "ready" first
//   watch <json [{to, proto, port}]> <intervalMs> <timeoutMs>  probes continuously: every interval
//                                     a new probe of each (TCP only), not waiting for earlier ones;
//                                     prints "<index> <1|0> <start ms since epoch>" per finished
//                                     probe; when stdin closes, starts no more, waits for the
//                                     running ones and prints "end"
// A probe that gets no answer within the timeout counts as denied: a drop looks exactly like that.
import dgram from 'node:dgram';
import net from 'node:net';

let TIMEOUT_MS = 1500;

function serve(tcp: number[], udp: number[], echo: number[] = []): void {
  let pending = tcp.length + udp.length + echo.length;
  const ready = () => { if (--pending === 0) process.stdout.write('ready\n'); };
  for (const port of echo) {
    net.createServer((socket) => { socket.on('error', () => {}); socket.pipe(socket); }).listen({ port, host: '::', ipv6Only: false }, ready);
  }
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

function probeTcp(p: Probe, timeoutMs = TIMEOUT_MS): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: p.to, port: p.port, ...(p.from ? { localAddress: p.from } : {}) });
    let data = '';
    const done = (ok: boolean) => { clearTimeout(timer); socket.destroy(); resolve(ok); };
    const timer = setTimeout(() => done(false), timeoutMs);
    socket.on('data', (chunk) => { data += chunk; if (data === 'ok') done(true); });
    socket.on('error', () => done(false));
  });
}

function probeUdp(p: Probe, timeoutMs = TIMEOUT_MS): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = dgram.createSocket(net.isIPv6(p.to) ? 'udp6' : 'udp4');
    const done = (ok: boolean) => { clearTimeout(timer); socket.close(); resolve(ok); };
    const timer = setTimeout(() => done(false), timeoutMs);
    socket.on('message', (msg) => done(msg.toString() === 'ok'));
    socket.on('error', () => done(false));
    socket.bind({ port: 0, ...(p.from ? { address: p.from } : {}) }, () => socket.send('hi', p.port, p.to));
  });
}

const [mode, ...args] = process.argv.slice(2);
if (mode === 'serve') {
  const list = (text = '') => text.split(',').filter(Boolean).map(Number);
  serve(list(args[0]), list(args[1]), list(args[2]));
} else if (mode === 'hold') {
  const socket = net.connect({ host: args[0]!, port: Number(args[1]) });
  socket.on('connect', () => setInterval(() => socket.write('x'), 100));
  socket.on('data', () => process.stdout.write('.'));
  socket.on('error', () => process.exit(1));
  socket.on('close', () => process.exit(0));
} else if (mode === 'probe') {
  const probes = JSON.parse(args[0]!) as Probe[];
  if (args[1]) TIMEOUT_MS = Number(args[1]);
  const results = await Promise.all(probes.map((p) => (p.proto === 'tcp' ? probeTcp(p) : probeUdp(p))));
  process.stdout.write(`${JSON.stringify(results)}\n`);
} else if (mode === 'prober') {
  let buffer = '';
  process.stdin.on('data', (chunk) => {
    buffer += chunk;
    const lines = buffer.split('\n');
    buffer = lines.pop()!;
    for (const line of lines) {
      const { id, probes, timeoutMs } = JSON.parse(line) as { id: number; probes: Probe[]; timeoutMs: number };
      void Promise.all(probes.map((p) => (p.proto === 'tcp' ? probeTcp(p, timeoutMs) : probeUdp(p, timeoutMs))))
        .then((results) => process.stdout.write(`${JSON.stringify({ id, results })}\n`));
    }
  });
  process.stdin.on('end', () => process.exit(0));
  process.stdout.write('ready\n');
} else if (mode === 'watch') {
  const probes = JSON.parse(args[0]!) as Probe[];
  const interval = Number(args[1]);
  TIMEOUT_MS = Number(args[2]);
  let running = 0;
  let stopping = false;
  const finish = () => { if (stopping && running === 0) process.stdout.write('end\n', () => process.exit(0)); };
  const round = () => probes.forEach((p, i) => {
    const start = Date.now();
    running += 1;
    void probeTcp(p).then((ok) => {
      running -= 1;
      process.stdout.write(`${i} ${ok ? 1 : 0} ${start}\n`);
      finish();
    });
  });
  round();
  const timer = setInterval(round, interval);
  process.stdin.on('data', () => {});
  process.stdin.on('end', () => { stopping = true; clearInterval(timer); finish(); });
} else {
  process.stderr.write('usage: policy-probe.ts serve <tcp,ports> <udp,ports> | probe <json>\n');
  process.exit(2);
}
