import type { IdentityMemory, ReprovisionPolicy } from '../certs/device-identity.js';
import type { KeyType } from '@tds/server/contract';
import type { CertificateIssuer } from '../certs/issuer.js';
import type { SerialDeviceDescriptor, SerialLink } from '../devices/serial-link.js';
import type { BrokerMonitor } from '../monitor/broker-monitor.js';
import type { FirmwareBundle } from './bundle.js';
import type { ResetMode } from './esp-session.js';

// What an ESP32 job is given. Apart from the job factory (provision-job.ts), so that the runs of both
// key modes can use these types without importing the factory that imports them.

export interface Esp32JobSettings {
  accountId: number;
  /** `codigo` template: {mac12}, {MAC12}, {mac}, {seq}. */
  codeTemplate: string;
  nameTemplate: string;
  /** Broker address the device uses (written to its factory data). */
  broker: { host: string; port: number };
  wifi: { ssid: string; password: string };
  baud: number;
  /** From the profile; a USB-Serial/JTAG port (303a:1001) uses its own reset anyway. */
  resetMode: ResetMode;
  onlineTimeoutMs: number;
  keyType: KeyType;
  keyMode: 'station' | 'device';
  operator: string;
  stationId: string;
  reprovision: ReprovisionPolicy;
  /** How long the boot-log step listens before moving on (the log keeps being captured). Default 3000 ms. */
  bootLogMs?: number;
  /** Validity requested from the server, days (when the server supports it). */
  validityDays?: number;
  /** Device-key mode: how long the flashed firmware may take to start its console. Default 30 s. */
  consoleBootTimeoutMs?: number;
}

export interface Esp32JobInput {
  device: SerialDeviceDescriptor;
  /** A fresh, closed link for the device (called once per attempt). */
  openLink(): SerialLink;
  bundle: FirmwareBundle;
  issuer: CertificateIssuer;
  /** The station's monitor identity on the broker; without it the online step is skipped. */
  monitor?: BrokerMonitor;
  settings: Esp32JobSettings;
  /** Sequence number for {seq} in the codigo template. */
  seq?: number;
  /**
   * Device-key mode only: the board already runs the TDS firmware; skip probe and flash and only
   * re-key it through its console (e.g. a board whose key must be replaced).
   */
  firmwareInstalled?: boolean;
  /**
   * What the job keeps across its attempts about the certificates it got (default: a fresh memory).
   * Given when the job is rebuilt after the station core restarted, from what the old core kept.
   */
  memory?: IdentityMemory;
}
