/** A pseudo-terminal pair from socat: what the station opens (host) and the other end (device). */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { startProcess, type StartedProcess } from './processes.js';
import { requireTool } from './tools.js';

export interface PtyPair {
  host: string;
  device: string;
  /** The socat process; stop it (by PID) to pull the "cable". */
  proc: StartedProcess;
}

export async function ptyPair(dir: string, name: string): Promise<PtyPair> {
  const socat = requireTool('socat', 'socat');
  const host = path.join(dir, `${name}-host`);
  const device = path.join(dir, `${name}-dev`);
  const proc = startProcess(`socat-${name}`, socat, [`PTY,raw,echo=0,link=${host}`, `PTY,raw,echo=0,link=${device}`]);
  for (let i = 0; i < 200 && !(existsSync(host) && existsSync(device)); i++) await new Promise((r) => setTimeout(r, 25));
  if (!existsSync(device)) {
    await proc.stop();
    throw new Error('socat did not create the pty pair');
  }
  return { host, device, proc };
}
