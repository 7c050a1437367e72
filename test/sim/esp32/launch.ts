/**
 * Starts a simulated ESP32 board as its own process (test/sim/esp32/main.ts) and gives the test a
 * handle on it. Every board is started through startProcess() and stopped by PID.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { build, stop as stopEsbuild } from 'esbuild';
import { startProcess, type StartedProcess } from '../../support/processes.js';
import { tempDir } from '../../support/temp.js';
import { requireTool } from '../../support/tools.js';
import type { SimBridge } from './bridge.js';
import type { SimChip } from './chip.js';
import { ControlClient } from './control-client.js';

const ROOT = path.resolve(import.meta.dirname, '../../..');
const MAIN = path.join(ROOT, 'test/sim/esp32/main.ts');

export interface Esp32SimOptions {
  /** eFuse MAC (any accepted form); a random 24:6f:28:xx:xx:xx when omitted. */
  mac?: string;
  /** Folder for the pty link, control socket and (default) flash file; a temp dir removed on stop when omitted. */
  dir?: string;
  /** Flash contents file (kept); created 0xFF-filled when missing. Default `<dir>/flash.bin`. */
  flashFile?: string;
  /** Bytes or "4MB"/"2MB"… Default 4 MB. */
  flashSize?: number | string;
  chip?: SimChip;
  /**
   * The USB side (bridge.ts): `cp2102` (default, a CP2102 DevKit), `cp2102n`, `ch340`, `ch9102`,
   * `ft232r`, `usb-jtag` (S3/C3 native USB); `name:holds` caps the clean rate (`cp2102n:921600`
   * garbles at 2 Mbaud).
   */
  bridge?: string;
  /** Fault specs, e.g. ['unplug-at-byte=200000', 'slow-erase=20'] (docs/esp32-simulator.md). */
  faults?: string[];
  /** Deliver bytes at the real wire rate of the current baud. */
  throttle?: boolean;
  telemetryIntervalMs?: number;
  /** 'none' = a board whose DTR/RTS are not wired (manual BOOT + RESET). Default 'auto'. */
  resetCircuit?: 'auto' | 'none';
  /** ROM's GET_SECURITY_INFO reply echoes the opcode instead of 0x00. */
  securityInfoEcho?: boolean;
  /** Read the host's baud with stty and drop/garble bytes on mismatch (default true). */
  baudCheck?: boolean;
  /** Log every protocol command on the simulator's stdout. */
  trace?: boolean;
}

export interface Esp32Sim {
  /** The serial port the station opens (a pty link). */
  hostPath: string;
  controlPath: string;
  mac: string;
  flashFile: string;
  dir: string;
  pid: number;
  resetCircuit: 'auto' | 'none';
  /** The bridge model (VID:PID, product string, rates) the device source reports. */
  bridge: SimBridge;
  process: StartedProcess;
  /** Sends one control line; resolves with the text after OK, rejects on ERR. */
  sendControl(line: string): Promise<string>;
  /** Waits for a line of the board's UART (`[uart] …`) or simulator log (`[sim] …`) matching `re`. */
  waitForLog(re: RegExp, timeoutMs?: number): Promise<RegExpMatchArray>;
  /** Everything the simulator printed so far. */
  output(): string;
  /** Current flash contents (from the flash file). */
  readFlash(offset: number, length: number): Buffer;
  status(): Promise<Record<string, unknown>>;
  stop(): Promise<void>;
}

let bundle: Promise<string | undefined> | undefined;

/**
 * The simulator as one plain-JS module (esbuild, once per process). A board started from it with
 * plain `node` needs about half the memory of `node --import tsx main.ts` (tsx's loader thread and
 * transpiler stay resident in every board). Undefined if bundling fails: then tsx runs the sources.
 */
function simBundle(): Promise<string | undefined> {
  bundle ??= build({
    entryPoints: [MAIN],
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    write: false,
    logLevel: 'silent',
    // Bundled CommonJS dependencies (mqtt's) call require() for Node built-ins.
    banner: { js: "import { createRequire as __simRequire } from 'node:module'; const require = __simRequire(import.meta.url);" },
  })
    .then(
      (r) => r.outputFiles[0]?.text,
      () => undefined,
    )
    .finally(() => void stopEsbuild()); // its service process is not needed any more
  return bundle;
}

function randomMac(): string {
  return ['24', '6f', '28', ...[...randomBytes(3)].map((b) => b.toString(16).padStart(2, '0'))].join(':');
}

export async function startEsp32Sim(options: Esp32SimOptions = {}): Promise<Esp32Sim> {
  requireTool('socat', 'socat');
  requireTool('stty', 'coreutils');
  const ownDir = options.dir === undefined ? tempDir('tds-esp32sim-') : undefined;
  const dir = options.dir ?? ownDir!.path;
  // ESP32SIM_SOURCES=1 runs the TypeScript sources through tsx (stack traces with source lines).
  const code = process.env.ESP32SIM_SOURCES === '1' ? undefined : await simBundle();
  let entry = ['--import', 'tsx', MAIN];
  if (code !== undefined) {
    const file = path.join(dir, 'esp32-sim.mjs');
    mkdirSync(dir, { recursive: true });
    writeFileSync(file, code);
    entry = [file];
  }
  const args = [...entry, '--dir', dir, '--mac', options.mac ?? randomMac()];
  if (options.flashFile) args.push('--flash-file', options.flashFile);
  if (options.flashSize !== undefined) args.push('--flash-size', String(options.flashSize));
  if (options.chip) args.push('--chip', options.chip);
  if (options.bridge) args.push('--bridge', options.bridge);
  for (const f of options.faults ?? []) args.push('--fault', f);
  if (options.throttle) args.push('--throttle');
  if (options.telemetryIntervalMs !== undefined) args.push('--telemetry-interval-ms', String(options.telemetryIntervalMs));
  if (options.resetCircuit) args.push('--reset-circuit', options.resetCircuit);
  if (options.securityInfoEcho) args.push('--security-info-echo');
  if (options.baudCheck === false) args.push('--no-baud-check');
  if (options.trace) args.push('--trace');

  const proc = startProcess(`esp32-sim ${path.basename(dir)}`, process.execPath, args, { cwd: ROOT });
  let ready: { hostPath: string; controlPath: string; mac: string; flashFile: string; pid: number; bridge: SimBridge };
  try {
    const m = await proc.waitForOutput(/ESP32SIM READY (\{.*\})/, 30_000);
    ready = JSON.parse(m[1]!) as typeof ready;
  } catch (err) {
    await proc.stop();
    ownDir?.remove();
    throw err;
  }
  const control = new ControlClient(ready.controlPath);
  return {
    ...ready,
    dir,
    pid: proc.pid,
    resetCircuit: options.resetCircuit ?? 'auto',
    process: proc,
    sendControl: (line) => control.request(line),
    waitForLog: (re, timeoutMs) => proc.waitForOutput(re, timeoutMs),
    output: () => proc.output(),
    readFlash(offset, length) {
      const all = readFileSync(ready.flashFile);
      return all.subarray(offset, offset + length);
    },
    async status() {
      return JSON.parse(await control.request('STATUS')) as Record<string, unknown>;
    },
    async stop() {
      control.close();
      await proc.stop();
      if (ownDir) rmSync(ownDir.path, { recursive: true, force: true });
    },
  };
}
