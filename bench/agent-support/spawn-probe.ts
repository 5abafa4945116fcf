// Run as its own process: how long spawning `/bin/true` takes (spawn to 'close', as the agent's
// runner waits) while this process holds 0, 126 and 252 MiB of buffers, the memory the agent's
// BinaryInstaller keeps (the plugin's bytes; on a warm start also the target's). libuv spawns
// with fork(), whose cost grows with the parent's mapped memory, so every `ip`/`iptables` the
// agent runs pays for the held buffers. Prints JSON [{heldMiB, medianMs}].
import { spawn } from 'node:child_process';

function spawnOnce(): Promise<number> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const child = spawn('/bin/true', [], { stdio: ['pipe', 'pipe', 'pipe'] });
    child.stdin.end();
    child.on('error', reject);
    child.on('close', () => resolve(performance.now() - started));
  });
}

async function medianSpawnMs(count: number): Promise<number> {
  const samples: number[] = [];
  for (let i = 0; i < count; i++) samples.push(await spawnOnce());
  samples.sort((a, b) => a - b);
  return samples[Math.floor(samples.length / 2)]!;
}

const held: Buffer[] = [];
const rows: { heldMiB: number; medianMs: number }[] = [];
for (const step of [0, 126, 126]) {
  if (step) held.push(Buffer.alloc(step * 1024 * 1024, 1)); // filled: resident, like a file read into memory
  rows.push({ heldMiB: held.reduce((sum, b) => sum + b.length, 0) / 1024 / 1024, medianMs: await medianSpawnMs(25) });
}
process.stdout.write(JSON.stringify(rows) + '\n');
