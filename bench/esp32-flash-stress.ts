/**
 * ESP32 flashing stress run (run: npx tsx bench/esp32-flash-stress.ts [--boards 3] [--rounds 5]
 * [--load 0] [--baud 921600] [--late-ack] [--engine station|esptool] [--trace]).
 *
 * Simulated boards throttled to the real wire rate are flashed in parallel with the station's flash
 * writer (probe → stub → baud change → the fixture bundle + a 64 KiB data partition of random bytes,
 * each part MD5-verified), round after round. `--load N` adds N busy-looping processes so station
 * and simulators fight for the CPU; `--late-ack` makes one board per round answer a block 3.5 s late
 * (what a stalled host or USB hub does). Prints per round: failures with message and place, parts
 * the writer had to start again, bytes a simulator lost to a baud mismatch (must stay 0: a real
 * board only garbles bytes sent at the wrong speed). Exit code 1 when any flash failed.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { EspSession, type FlashEngine, type FlashPart } from '../src/main/esp32/esp-session.js';
import { startEsp32Sim, type Esp32Sim } from '../test/sim/esp32/launch.js';
import { SimDeviceSource } from '../test/sim/esp32/sim-device-source.js';

const ROOT = path.resolve(import.meta.dirname, '..');
const FIXTURE = path.join(ROOT, 'test/fixtures/bundle-arduino');

const { values } = parseArgs({
  options: {
    boards: { type: 'string', default: '3' },
    rounds: { type: 'string', default: '5' },
    load: { type: 'string', default: '0' },
    baud: { type: 'string', default: '921600' },
    'late-ack': { type: 'boolean', default: false },
    engine: { type: 'string', default: 'station' },
    trace: { type: 'boolean', default: false },
  },
});
const BOARDS = Number(values.boards);
const ROUNDS = Number(values.rounds);
const LOAD = Number(values.load);
const BAUD = Number(values.baud);
const ENGINE = values.engine as FlashEngine;

function parts(): FlashPart[] {
  const file = (name: string): Uint8Array => readFileSync(path.join(FIXTURE, name));
  return [
    { name: 'bootloader.bin', address: 0x1000, data: file('bootloader.bin') },
    { name: 'partitions.bin', address: 0x8000, data: file('partitions.bin') },
    { name: 'boot_app0.bin', address: 0xe000, data: file('boot_app0.bin') },
    { name: 'app.bin', address: 0x10000, data: file('app.bin') },
    // Random bytes do not compress: the worst case for the wire.
    { name: 'tdscfg', address: 0x3f0000, data: randomBytes(0x10000) },
  ];
}

/** A process that keeps one core busy (the "machine under load" case); killed by PID at the end. */
function burner(): ChildProcess {
  return spawn(process.execPath, ['-e', 'for (;;);'], { stdio: 'ignore' });
}

interface Outcome {
  ok: boolean;
  ms: number;
  restarts: number;
  error?: string;
  lines: string[];
}

async function flashOnce(source: SimDeviceSource, sim: Esp32Sim, t0: number): Promise<Outcome> {
  const device = (await source.list()).find((d) => d.path === sim.hostPath)!;
  const lines: string[] = [];
  const log = (text: string, level = 'info'): void => void lines.push(`${(performance.now() - t0).toFixed(0).padStart(6)} ms ${level} ${text}`);
  const t = performance.now();
  let session: EspSession | undefined;
  try {
    session = await EspSession.connect(source.link(device), { baud: BAUD, resetMode: 'auto', flashEngine: ENGINE, signal: new AbortController().signal, log });
    if (session.chip.baud !== BAUD) throw new Error(`fell back to ${session.chip.baud} baud`);
    // Every round writes everything (parts a board already holds would otherwise be skipped).
    await session.esploader.eraseFlash();
    await session.flash(parts());
    return { ok: true, ms: performance.now() - t, restarts: lines.filter((l) => / again from its start/.test(l)).length, lines };
  } catch (err) {
    const e = err as Error & { where?: string };
    return { ok: false, ms: performance.now() - t, restarts: 0, error: `${e.message}${e.where ? ` (where: ${e.where})` : ''}`, lines };
  } finally {
    await session?.close();
  }
}

async function main(): Promise<void> {
  const burners: ChildProcess[] = [];
  const sims: Esp32Sim[] = [];
  const source = new SimDeviceSource();
  let failures = 0;
  let restarts = 0;
  try {
    for (let i = 0; i < BOARDS; i++) {
      const sim = await startEsp32Sim({ mac: `24:6f:28:5e:00:${(i + 1).toString(16).padStart(2, '0')}`, throttle: true, trace: values.trace });
      sims.push(sim);
      await source.add(sim);
    }
    for (let i = 0; i < LOAD; i++) burners.push(burner());
    console.log(
      `== ${BOARDS} boards at the wire rate of ${BAUD} baud in parallel, ${ROUNDS} rounds, ${LOAD} busy processes, engine ${ENGINE}${values['late-ack'] ? ', one late answer per round' : ''} ==`,
    );
    const times: number[] = [];
    for (let round = 1; round <= ROUNDS; round++) {
      if (values['late-ack']) await sims[(round - 1) % BOARDS]!.sendControl('FAULT late-ack=3500');
      const t0 = performance.now();
      const results = await Promise.all(sims.map((sim) => flashOnce(source, sim, t0)));
      const roundMs = performance.now() - t0;
      times.push(roundMs);
      const bad = results.filter((r) => !r.ok);
      failures += bad.length;
      const roundRestarts = results.reduce((n, r) => n + r.restarts, 0);
      restarts += roundRestarts;
      console.log(
        `round ${round}: ${results.length - bad.length}/${results.length} ok, makespan ${(roundMs / 1000).toFixed(2)} s ` +
          `(${results.map((r) => (r.ms / 1000).toFixed(2)).join(' ')}), parts started again: ${roundRestarts}`,
      );
      for (const [i, r] of results.entries()) {
        if (r.ok) continue;
        console.log(`  board ${i + 1} FAILED: ${r.error}`);
        for (const l of r.lines.slice(-20)) console.log(`    station ${l}`);
        for (const l of sims[i]!.output().split('\n').filter((x) => x.startsWith('[sim]')).slice(-12)) console.log(`    sim     ${l}`);
      }
    }
    const lost = await Promise.all(sims.map(async (s) => (await s.status()).baudMismatch as { droppedBytes: number; garbledBytes: number }));
    const lostBytes = lost.reduce((n, l) => n + l.droppedBytes + l.garbledBytes, 0);
    console.log(
      `summary: ${failures} failed of ${BOARDS * ROUNDS} flashes; ${restarts} part(s) started again; ` +
        `bytes lost to a baud mismatch: ${lostBytes}; slowest round ${(Math.max(...times) / 1000).toFixed(2)} s`,
    );
    if (lostBytes > 0) failures++;
  } finally {
    for (const b of burners) b.kill('SIGKILL');
    source.close();
    await Promise.all(sims.map((s) => s.stop()));
  }
  process.exitCode = failures > 0 ? 1 : 0;
}

await main();
