/**
 * Builds the firmware core's host targets (make -C firmware/esp32/host) and runs the host device
 * program (tds-device-host) on one end of a socat pseudo-terminal pair; an RS-485 bus is another
 * pair with pymodbus RTU slaves (modbus_slave.py) on its far end.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { startProcess, type StartedProcess } from '../support/processes.js';
import { requireTool } from '../support/tools.js';

export const HOST_DIR = path.resolve(import.meta.dirname, '../../firmware/esp32/host');
export const DEVICE_HOST_BIN = path.join(HOST_DIR, 'build/tds-device-host');

export interface MakeResult {
  status: number | null;
  output: string;
}

export function runMake(target: string): MakeResult {
  requireTool('make', 'make');
  requireTool('g++', 'g++');
  const r = spawnSync('make', ['-C', HOST_DIR, '-j2', target], { encoding: 'utf8', maxBuffer: 20 * 1024 * 1024 });
  return { status: r.status, output: `${r.stdout}\n${r.stderr}` };
}

export function buildDeviceHost(): void {
  const r = runMake('build/tds-device-host');
  if (r.status !== 0 || !existsSync(DEVICE_HOST_BIN)) {
    throw new Error(`building tds-device-host failed (needs libmbedtls-dev, libcjson-dev, libmosquitto-dev):\n${r.output.slice(-3000)}`);
  }
}

export interface HostDevice {
  /** The station's end of the pty pair. */
  port: string;
  socat: StartedProcess;
  device: StartedProcess;
  stop(): Promise<void>;
}

export async function startHostDevice(dir: string, mac: string, extraArgs: string[] = []): Promise<HostDevice> {
  const socatBin = requireTool('socat', 'socat');
  const port = path.join(dir, 'ttyStation');
  const devEnd = path.join(dir, 'ttyDevice');
  const socat = startProcess('socat', socatBin, ['-d', '-d', `pty,raw,echo=0,link=${port}`, `pty,raw,echo=0,link=${devEnd}`]);
  await socat.waitForOutput(/starting data transfer loop/, 10_000);
  const device = startProcess('tds-device-host', DEVICE_HOST_BIN, ['--serial', devEnd, '--nvs', dir, '--mac', mac, ...extraArgs]);
  await device.waitForOutput(/tds-device-host .* on /, 10_000);
  return {
    port,
    socat,
    device,
    async stop() {
      await device.stop(2_000);
      await socat.stop(2_000);
    },
  };
}

export interface ModbusBus {
  /** The master's end (tds-device-host --rs485). */
  port: string;
  stop(): Promise<void>;
}

/** A pty pair with pymodbus RTU slaves `slaveIds` (registers: modbus_slave.py) on the far end. */
export async function startModbusBus(dir: string, slaveIds: number[]): Promise<ModbusBus> {
  // Debian's python3-pymodbus belongs to /usr/bin/python3 (a pyenv python3 earlier on PATH lacks it).
  const python = existsSync('/usr/bin/python3') ? '/usr/bin/python3' : requireTool('python3', 'python3-pymodbus');
  const socatBin = requireTool('socat', 'socat');
  const port = path.join(dir, 'rs485-master');
  const far = path.join(dir, 'rs485-slaves');
  const socat = startProcess('socat-bus', socatBin, ['-d', '-d', `pty,raw,echo=0,link=${port}`, `pty,raw,echo=0,link=${far}`]);
  let slaves: StartedProcess | undefined;
  try {
    await socat.waitForOutput(/starting data transfer loop/, 10_000);
    slaves = startProcess('modbus-slaves', python, [path.join(import.meta.dirname, 'modbus_slave.py'), far, slaveIds.join(',')]);
    await slaves.waitForOutput(/modbus slave [\d,]+ on/, 15_000);
  } catch (err) {
    await slaves?.stop(2_000);
    await socat.stop(2_000);
    throw err;
  }
  const started = slaves;
  return {
    port,
    async stop() {
      await started.stop(2_000);
      await socat.stop(2_000);
    },
  };
}
