/**
 * One simulated ESP32 board as its own process (so a station in another process sees realistic
 * concurrency). Start it with the launcher (launch.ts) or by hand:
 *
 *   npx tsx test/sim/esp32/main.ts --dir /tmp/board1 --mac 24:6f:28:aa:bb:01 [--throttle] [--fault no-ohai]
 *
 *   [--chip esp32|esp32s3|esp32c3] [--bridge cp2102|cp2102n|ch340|ch9102|ft232r|usb-jtag[:holds]]
 *
 * When ready it prints one line: `ESP32SIM READY {"hostPath":…,"controlPath":…,"mac":…,"flashFile":…}`.
 * Serial output is mirrored as `[uart] …` lines, simulator notes as `[sim] …`.
 */
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { normaliseMac } from '../../../server/src/contract/mac.js';
import { Board } from './board.js';
import { parseBridge, type SimBridge } from './bridge.js';
import { SIM_CHIPS, type SimChip } from './chip.js';
import { startControlServer } from './control.js';
import { parseSize } from './faults.js';

const { values } = parseArgs({
  options: {
    dir: { type: 'string' },
    'host-path': { type: 'string' },
    'control-path': { type: 'string' },
    mac: { type: 'string', default: '24:6f:28:00:00:01' },
    'flash-file': { type: 'string' },
    'flash-size': { type: 'string', default: '4MB' },
    chip: { type: 'string', default: 'esp32' },
    bridge: { type: 'string', default: 'cp2102' },
    fault: { type: 'string', multiple: true, default: [] },
    throttle: { type: 'boolean', default: false },
    'telemetry-interval-ms': { type: 'string', default: '5000' },
    'reset-circuit': { type: 'string', default: 'auto' },
    'no-baud-check': { type: 'boolean', default: false },
    'security-info-echo': { type: 'boolean', default: false },
    trace: { type: 'boolean', default: false },
  },
});

function fail(message: string): never {
  console.error(`esp32 simulator: ${message}`);
  process.exit(2);
}

const dir = values.dir ?? fail('--dir is required (a folder for the pty link, control socket and flash file)');
mkdirSync(dir, { recursive: true });
let mac: string;
try {
  mac = normaliseMac(values.mac);
} catch (err) {
  fail((err as Error).message);
}
const chip = values.chip as SimChip;
if (!SIM_CHIPS.includes(chip)) fail(`--chip must be one of ${SIM_CHIPS.join(', ')}`);
let bridge: SimBridge;
try {
  bridge = parseBridge(values.bridge);
} catch (err) {
  fail((err as Error).message);
}
if (bridge.usbJtag && chip === 'esp32') fail('the ESP32 has no USB-Serial/JTAG: use --chip esp32s3 or esp32c3 with --bridge usb-jtag');
const resetCircuit = values['reset-circuit'];
if (resetCircuit !== 'auto' && resetCircuit !== 'none') fail('--reset-circuit must be auto or none');
const telemetryIntervalMs = Number(values['telemetry-interval-ms']);
if (!(telemetryIntervalMs >= 100)) fail('--telemetry-interval-ms must be at least 100');

const options = {
  hostPath: path.resolve(values['host-path'] ?? path.join(dir, 'tty')),
  controlPath: path.resolve(values['control-path'] ?? path.join(dir, 'control.sock')),
  flashFile: path.resolve(values['flash-file'] ?? path.join(dir, 'flash.bin')),
};

let board: Board;
try {
  board = new Board({
    hostPath: options.hostPath,
    mac,
    flashFile: options.flashFile,
    flashSize: parseSize(values['flash-size']),
    chip,
    bridge,
    faults: values.fault,
    throttle: values.throttle,
    telemetryIntervalMs,
    resetCircuit,
    baudCheck: !values['no-baud-check'],
    securityInfoEcho: values['security-info-echo'],
    trace: values.trace,
  });
} catch (err) {
  fail((err as Error).message);
}

let stopping = false;
async function stop(): Promise<void> {
  if (stopping) return;
  stopping = true;
  server.close();
  await board.shutdown();
  process.exit(0);
}

const server = await startControlServer(board, options.controlPath, () => void stop());
process.on('SIGTERM', () => void stop());
process.on('SIGINT', () => void stop());
await board.plug();
console.log(`ESP32SIM READY ${JSON.stringify({ ...options, mac, pid: process.pid, bridge })}`);
