// bench:policy's connection probe, run by Node inside a namespace:
//   serve <port>            accepts, echoes what it reads; prints "ready"
//   connect <ip> <port> <n>  n connections one after another; prints each connect time in µs (JSON)
//   rr <ip> <port> <n>       one connection, n one-byte requests back to back, each answered
//                            by the echo; prints each round trip in µs (JSON)
//   rr-session <ip> <port>   one connection kept for the whole run: for each line <n> on stdin,
//                            n echoes as `rr` does, printed as one JSON line; prints "ready"
//                            first. One warm process and connection across every round, so a
//                            window measures the path, not a Node start and a cold JIT.
// Every connection's SYN is a new connection for conntrack, so the policy table judges it in
// full; the SYN-ACK and the rest are established. `rr` is the RTT of established packets: ping's
// ICMP is not allowed where policies select the pods (a policy's ports are TCP, UDP or SCTP).
import net from 'node:net';

const [mode, ...args] = process.argv.slice(2);
if (mode === 'serve') {
  net.createServer((socket) => { socket.setNoDelay(true); socket.on('error', () => {}); socket.on('data', (data) => socket.write(data)); socket.on('end', () => socket.destroy()); }).listen(Number(args[0]), () => process.stdout.write('ready\n'));
} else if (mode === 'connect') {
  const [host, port, count] = [args[0]!, Number(args[1]), Number(args[2])];
  const times: number[] = [];
  for (let i = 0; i < count; i++) {
    times.push(await new Promise<number>((resolve, reject) => {
      const start = process.hrtime.bigint();
      const socket = net.connect({ host, port }, () => { resolve(Number(process.hrtime.bigint() - start) / 1000); socket.destroy(); });
      socket.setTimeout(2000, () => reject(new Error(`connect ${host}:${port} timed out`)));
      socket.on('error', reject);
    }));
  }
  process.stdout.write(`${JSON.stringify(times)}\n`);
} else if (mode === 'rr') {
  const [host, port, count] = [args[0]!, Number(args[1]), Number(args[2])];
  const socket = net.connect({ host, port });
  socket.setNoDelay(true);
  socket.setTimeout(2000, () => { process.stderr.write(`rr ${host}:${port} timed out\n`); process.exit(1); });
  await new Promise<void>((resolve, reject) => { socket.once('connect', resolve); socket.once('error', reject); });
  const times: number[] = [];
  for (let i = 0; i < count; i++) {
    const start = process.hrtime.bigint();
    const answered = new Promise((resolve) => socket.once('data', resolve));
    socket.write('x');
    await answered;
    times.push(Number(process.hrtime.bigint() - start) / 1000);
  }
  socket.end();
  process.stdout.write(`${JSON.stringify(times)}\n`);
} else if (mode === 'rr-session') {
  const [host, port] = [args[0]!, Number(args[1])];
  const socket = net.connect({ host, port });
  socket.setNoDelay(true);
  await new Promise<void>((resolve, reject) => { socket.once('connect', resolve); socket.once('error', reject); });
  socket.on('error', (error) => { process.stderr.write(`rr-session: ${error.message}\n`); process.exit(1); });
  let pending: ((data: Buffer) => void) | undefined;
  socket.on('data', (data) => { const p = pending; pending = undefined; p?.(data); });
  const echo = () => new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`rr-session ${host}:${port}: no echo in 2 s`)), 2000);
    pending = () => { clearTimeout(timer); resolve(); };
    socket.write('x');
  });
  process.stdout.write('ready\n');
  let buffered = '';
  let queue = Promise.resolve();
  process.stdin.on('data', (chunk) => {
    buffered += chunk.toString();
    const lines = buffered.split('\n');
    buffered = lines.pop()!;
    for (const line of lines) {
      queue = queue.then(async () => {
        const times: number[] = [];
        for (let i = 0; i < Number(line); i++) {
          const start = process.hrtime.bigint();
          await echo();
          times.push(Number(process.hrtime.bigint() - start) / 1000);
        }
        process.stdout.write(`${JSON.stringify(times)}\n`);
      }).catch((error: Error) => { process.stderr.write(`${error.message}\n`); process.exit(1); });
    }
  });
  process.stdin.on('end', () => void queue.then(() => socket.end()));
} else {
  process.stderr.write('usage: connect.ts serve <port> | connect <ip> <port> <n> | rr <ip> <port> <n> | rr-session <ip> <port>\n');
  process.exit(2);
}
