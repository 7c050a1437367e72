/**
 * Support for the firmware's zero-touch tests: the host device (tds-device-host) with factory data
 * written into its NVS files, its console events and log lines, and what it stored.
 */
import { createHash, createPublicKey } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { SerialPortLink } from '../../src/main/devices/serialport-link.js';
import { DeviceConsoleClient } from '../../src/main/device-console/index.js';
import type { ConsoleEvent } from '../../src/main/device-console/protocol.js';
import { tempDir } from '../support/temp.js';
import { startHostDevice, type HostDevice } from './host-build.js';

type NvsFile = Record<string, Record<string, { type: string; value: string | number }>>;

export interface BootstrapEvent extends ConsoleEvent {
  event: 'bootstrap';
  state: string;
  [k: string]: unknown;
}

/** The server's API URL with the name its TLS certificate carries (mbedTLS 2.28 matches DNS names only). */
export function deviceApiUrl(apiUrl: string): string {
  return apiUrl.replace('://127.0.0.1:', '://localhost:');
}

export function fingerprintOf(keyOrCertPem: string): string {
  const spki = createPublicKey(keyOrCertPem).export({ type: 'spki', format: 'der' });
  return createHash('sha256').update(spki).digest('hex');
}

function nvsEntries(values: Record<string, string | number>): Record<string, { type: string; value: string | number }> {
  const out: Record<string, { type: string; value: string | number }> = {};
  for (const [k, v] of Object.entries(values)) out[k] = { type: typeof v === 'number' ? 'u16' : 'string', value: v };
  return out;
}

export class ZeroTouchDevice {
  readonly events: BootstrapEvent[] = [];
  private constructor(
    readonly mac: string,
    readonly dir: { path: string; remove(): void },
    readonly host: HostDevice,
    readonly link: SerialPortLink,
    readonly console: DeviceConsoleClient,
  ) {
    console.onEvent((e) => {
      if (e.event === 'bootstrap') this.events.push(e as BootstrapEvent);
    });
  }

  /** Writes the factory data (`tdscfg`, namespace `tds`) and starts the device with its console open. */
  static async start(mac: string, factory: Record<string, string | number>, args: string[] = []): Promise<ZeroTouchDevice> {
    const dir = tempDir('tds-zt-device-');
    writeFileSync(path.join(dir.path, 'tdscfg.json'), JSON.stringify({ tds: nvsEntries(factory) }));
    let host: HostDevice | undefined;
    let link: SerialPortLink | undefined;
    try {
      host = await startHostDevice(dir.path, mac, args);
      link = new SerialPortLink(host.port);
      await link.open({ baudRate: 115200 });
      return new ZeroTouchDevice(mac, dir, host, link, new DeviceConsoleClient(link, { timeoutMs: 10_000 }));
    } catch (err) {
      await link?.close();
      await host?.stop();
      dir.remove();
      throw err;
    }
  }

  /** The first bootstrap event in `state` seen after `index` events (already seen or future). */
  async waitFor(state: string, timeoutMs = 30_000, fromIndex = 0): Promise<BootstrapEvent> {
    const seen = this.events.slice(fromIndex).find((e) => e.state === state);
    if (seen) return seen;
    const e = await this.console.waitForEvent((x) => x.event === 'bootstrap' && (x as BootstrapEvent).state === state, timeoutMs).catch((err: unknown) => {
      throw new Error(`no bootstrap '${state}' event: ${String(err)}\nevents: ${JSON.stringify(this.events)}\nlog:\n${this.log().slice(-3000)}`);
    });
    return e as BootstrapEvent;
  }

  /** The device's human log (ESP-IDF style lines "I (<uptime ms>) tds: …" on stderr). */
  log(): string {
    return this.host.device.output();
  }

  /** Log lines that match, with the uptime they carry. */
  logLines(pattern: RegExp): Array<{ ms: number; text: string }> {
    const out: Array<{ ms: number; text: string }> = [];
    for (const line of this.log().split('\n')) {
      const m = /^I \((\d+)\) tds: (.*)$/.exec(line.trim());
      if (m && pattern.test(m[2]!)) out.push({ ms: Number(m[1]), text: m[2]! });
    }
    return out;
  }

  nvs(partition: 'tdscfg' | 'nvs'): Record<string, string | number> {
    const file = JSON.parse(readFileSync(path.join(this.dir.path, `${partition}.json`), 'utf8')) as NvsFile;
    const ns = file[partition === 'tdscfg' ? 'tds' : 'tds_dev'] ?? {};
    return Object.fromEntries(Object.entries(ns).map(([k, v]) => [k, v.value]));
  }

  async stop(): Promise<void> {
    this.console.dispose();
    await this.link.close();
    await this.host.stop();
    this.dir.remove();
  }
}
