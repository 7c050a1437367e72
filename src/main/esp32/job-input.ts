import type { IdentityMemory, ReprovisionPolicy } from '../certs/device-identity.js';
import type { KeyType } from '@tds/server/contract';
import type { Esp32Modbus } from '../../shared/esp32-modbus.js';
import type { BirthIssuer, ClaimLabel } from '../certs/birth-issuer.js';
import type { CertificateIssuer } from '../certs/issuer.js';
import type { SerialDeviceDescriptor, SerialLink } from '../devices/serial-link.js';
import type { BrokerMonitor } from '../monitor/broker-monitor.js';
import type { FirmwareBundle } from './bundle.js';
import type { ResetMode } from './esp-session.js';
import type { ImageHistory } from './image-history.js';
import type { PortRates } from './port-rates.js';

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
  /** Modbus RTU readings for the firmware (the factory data's `modbus` table); absent = none, and any earlier table is removed. */
  modbus?: Esp32Modbus;
  /**
   * Highest flashing speed allowed (the profile's cap). The station picks the rate itself from the
   * port's USB bridge and what worked on that port before; without a cap it may use the bridge's top rung.
   */
  maxBaud?: number;
  /** From the profile; a USB-Serial/JTAG port (303a:1001) uses its own reset anyway. */
  resetMode: ResetMode;
  onlineTimeoutMs: number;
  keyType: KeyType;
  keyMode: 'station' | 'device';
  /** `birth`: a birth identity for zero-touch onboarding in the field instead of the final identity. */
  identity?: 'final' | 'birth';
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
  /** Birth identities (settings.identity `birth`), and where the label's claim QR goes once the board holds its birth identity. */
  birth?: { issuer: BirthIssuer; label(jobId: string, label: ClaimLabel): void };
  /** The station's monitor identity on the broker; without it the online step is skipped. */
  monitor?: BrokerMonitor;
  settings: Esp32JobSettings;
  /** Sequence number for {seq} in the codigo template. */
  seq?: number;
  /** The station's memory of each port's speed (data folder); without it every job starts at the bridge's top rung. */
  portRates?: PortRates;
  /** Which image each MAC last received (station log + sector digests); without it no sector diff. */
  imageHistory?: ImageHistory;
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
