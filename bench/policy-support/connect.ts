// bench:policy's connection probe, run by Node inside a namespace:
//   serve <port>            accepts and closes; prints "ready"
//   connect <ip> <port> <n>  n connections one after another; prints each connect time in µs (JSON)
// Every connection's SYN is a new connection for conntrack, so the policy table judges it in
// full; the SYN-ACK and the rest are established.
import net from 'node:net';

const [mode, ...args] = process.argv.slice(2);
if (mode === 'serve') {
  net.createServer((socket) => { socket.on('error', () => {}); socket.destroy(); }).listen(Number(args[0]), () => process.stdout.write('ready\n'));
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
} else {
  process.stderr.write('usage: connect.ts serve <port> | connect <ip> <port> <n>\n');
  process.exit(2);
}
