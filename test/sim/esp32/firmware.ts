/**
 * What the board does on a flash boot: the ROM and 2nd-stage bootloader checks (real images in the
 * simulated flash), then a stand-in for the TDS gateway firmware: it reads the `tdscfg` NVS partition,
 * checks the configuration like the real firmware, and goes online over mTLS MQTT with mqtt.js.
 */
import { X509Certificate, createPrivateKey } from 'node:crypto';
import type { MqttClient } from 'mqtt';
import { topics, type TelemetryPayload } from '../../../server/src/contract/topics.js';
// The reader only: the NVS index also loads the generator's zod schemas (~14 MB per board process).
import { nvsNamespace, readNvsImage, type NvsValue } from '../../../src/main/esp32/nvs/read.js';
import {
  PARTITION_TABLE_MAX_SIZE,
  PARTITION_TABLE_OFFSET,
  findPartition,
  parsePartitionTable,
  type PartitionEntry,
  type PartitionTable,
} from '../../../src/main/esp32/partition-table.js';
import { checkEspImage } from './esp-image.js';
import type { ChipModel } from './chip.js';
import type { VirtualFlash } from './flash.js';

export const FIRMWARE_VERSION = '1.0.0-sim';

export interface FirmwareEnv {
  flash: VirtualFlash;
  /** The chip (bootloader offset, ROM banner, the chip id its images must carry). */
  chip: ChipModel;
  /** Canonical MAC (aa:bb:cc:dd:ee:ff). */
  mac: string;
  /** Prints on the board's UART (text). */
  print(text: string): void;
  log(line: string): void;
  event(name: string, detail?: unknown): void;
  telemetryIntervalMs: number;
  /** The app asked for a software reset (reboot command). */
  softwareReset(): void;
}

export type FirmwareState = 'booting' | 'boot-failed' | 'no-config' | 'bootstrapping' | 'connecting' | 'online' | 'stopped';

interface TdsConfig {
  ca_pem: string;
  cert_pem: string;
  key_pem: string;
  mqtt_host: string;
  mqtt_port: number;
  wifi_ssid: string;
  gw_code?: string;
}

const PART_USAGE: Record<string, string> = { nvs: 'WiFi data', ota: 'OTA data', phy: 'RF data', ota_0: 'OTA app', ota_1: 'OTA app', factory: 'factory app' };

function hex8(n: number): string {
  return n.toString(16).padStart(8, '0');
}

export class Firmware {
  state: FirmwareState = 'booting';
  private readonly started = Date.now();
  private client: MqttClient | undefined;
  private telemetryTimer: NodeJS.Timeout | undefined;
  private stopped = false;
  private lastError = '';

  constructor(private readonly env: FirmwareEnv) {}

  private ms(): number {
    return Date.now() - this.started + 27; // the bootloader's clock starts before the first line
  }

  private line(level: 'I' | 'W' | 'E', tag: string, text: string): void {
    this.env.print(`${level} (${this.ms()}) ${tag}: ${text}\r\n`);
  }

  /** Runs the 2nd-stage bootloader and the application. `resetReason` is the ROM banner's rst field. */
  boot(resetReason: string): void {
    const flash = this.env.flash;
    const chip = this.env.chip;
    const bootAt = chip.bootloaderOffset;
    this.env.print(chip.romBanner(resetReason, '0x13 (SPI_FAST_FLASH_BOOT)'));
    const read = (base: number) => (o: number, l: number) => flash.read(base + o, Math.max(0, Math.min(l, flash.capacity - base - o)));
    const boot = checkEspImage(read(bootAt), 0x7000);
    if (!boot.ok) {
      // What the ROM prints when there is no valid bootloader where it looks.
      this.env.print(`flash read err, ${bootAt.toString(16)}\r\nets_main.c 371 \r\n`);
      return this.fail(`no valid bootloader at 0x${bootAt.toString(16)}: ${boot.error}`);
    }
    if (boot.image.chipId !== chip.imageChipId) {
      this.env.print(`invalid header: chip id ${boot.image.chipId}, expected ${chip.imageChipId}\r\n`);
      return this.fail(`the bootloader at 0x${bootAt.toString(16)} is for chip id ${boot.image.chipId}, not this chip (${chip.imageChipId})`);
    }
    this.env.print('configsip: 0, SPIWP:0xee\r\nclk_drv:0x00,q_drv:0x00,d_drv:0x00,cs0_drv:0x00,hd_drv:0x00,wp_drv:0x00\r\nmode:DIO, clock div:1\r\n');
    for (const s of boot.image.segments) this.env.print(`load:0x${hex8(s.loadAddr)},len:${s.length}\r\n`);
    this.env.print(`entry 0x${hex8(boot.image.entry)}\r\n`);
    this.line('I', 'boot', 'ESP-IDF v4.4.7 2nd stage bootloader');
    this.line('I', 'boot', 'chip revision: v3.0');
    this.line('I', 'boot.esp32', `SPI Flash Size : ${flash.capacity / 0x100000}MB`);

    let table: PartitionTable;
    try {
      table = parsePartitionTable(flash.read(PARTITION_TABLE_OFFSET, PARTITION_TABLE_MAX_SIZE), { flashSize: flash.capacity });
    } catch (err) {
      this.line('E', 'flash_parts', (err as Error).message);
      this.line('E', 'boot', 'Failed to verify partition table');
      this.line('E', 'boot', 'load partition table error!');
      return this.fail('no valid partition table');
    }
    this.line('I', 'boot', 'Partition Table:');
    this.line('I', 'boot', '## Label            Usage          Type ST Offset   Length');
    table.entries.forEach((p, i) => {
      const usage = PART_USAGE[p.subtypeName] ?? 'Unknown data';
      this.line('I', 'boot', `${String(i).padStart(2)} ${p.label.padEnd(16)} ${usage.padEnd(16)} ${p.type.toString(16).padStart(2, '0')} ${p.subtype.toString(16).padStart(2, '0')} ${hex8(p.offset)} ${hex8(p.size)}`);
    });
    this.line('I', 'boot', 'End of partition table');

    const app = table.entries.find((p) => p.typeName === 'app' && p.subtypeName === 'factory') ?? table.entries.find((p) => p.typeName === 'app');
    if (!app) {
      this.line('E', 'boot', 'No bootable app partitions in the partition table');
      return this.fail('no app partition');
    }
    const image = checkEspImage(read(app.offset), app.size);
    if (image.ok && image.image.chipId !== chip.imageChipId) {
      this.line('E', 'boot_comm', `mismatch chip ID, expected ${chip.imageChipId}, found ${image.image.chipId}`);
      return this.fail(`app at 0x${app.offset.toString(16)} is for chip id ${image.image.chipId}`);
    }
    if (!image.ok) {
      this.line('E', 'esp_image', `image at 0x${app.offset.toString(16)} has ${image.error}`);
      this.line('E', 'boot', `OTA app partition slot 0 is not bootable`);
      this.line('E', 'boot', 'No bootable app partitions in the partition table');
      return this.fail(`app at 0x${app.offset.toString(16)} not bootable: ${image.error}`);
    }
    image.image.segments.forEach((s, i) => {
      this.line('I', 'esp_image', `segment ${i}: paddr=${hex8(app.offset + s.offset)} vaddr=${hex8(s.loadAddr)} size=${s.length.toString(16).padStart(5, '0')}h (${String(s.length).padStart(6)})`);
    });
    this.line('I', 'boot', `Loaded app from partition at offset 0x${app.offset.toString(16)}`);
    this.line('I', 'boot', 'Disabling RNG early entropy source...');
    this.env.event('mode', 'app');
    this.runApp(table);
  }

  private fail(reason: string): void {
    this.state = 'boot-failed';
    this.env.log(`boot failed: ${reason}`);
    this.env.event('boot-failed', reason);
  }

  private runApp(table: PartitionTable): void {
    this.line('I', 'tds', `TDS gateway ${FIRMWARE_VERSION}, MAC ${this.env.mac}`);
    const onboarding = this.zeroTouch(table);
    if (onboarding) {
      // A bench-born board (birth identity, no operational one): the firmware onboards itself in the
      // field; this stand-in only says so, as the real firmware does, and stays off the broker.
      this.state = 'bootstrapping';
      this.line('I', 'tds', `bootstrap: no operational identity; onboarding through ${onboarding} (birth identity)`);
      this.env.event('bootstrap', onboarding);
      return;
    }
    const problems: string[] = [];
    const cfg = this.readConfig(table, problems);
    if (!cfg) {
      this.state = 'no-config';
      for (const p of problems) this.line('E', 'tds', `config: ${p}`);
      this.line('E', 'tds', `configuration invalid: ${problems.join('; ')}`);
      this.line('W', 'tds', 'provisioning mode: MQTT disabled until the board is provisioned');
      this.env.event('config-invalid', problems);
      return;
    }
    this.line('I', 'tds', `wifi: connecting to "${cfg.wifi_ssid}"`);
    this.line('I', 'tds', 'wifi: connected, ip 192.168.4.23');
    void this.connect(cfg);
  }

  /** The `bs_url` of a board whose tdscfg holds a usable birth identity and no certificate, else undefined. */
  private zeroTouch(table: PartitionTable): string | undefined {
    const part = findPartition(table, 'tdscfg');
    if (!part) return undefined;
    let values: Record<string, NvsValue> | undefined;
    try {
      values = nvsNamespace(readNvsImage(this.env.flash.read(part.offset, part.size)), 'tds');
    } catch {
      return undefined;
    }
    const { cert_pem: cert, birth_cert: birthCert, birth_key: birthKey, bs_url: url, bs_ca: ca } = values ?? {};
    if (cert !== undefined || typeof birthCert !== 'string' || typeof birthKey !== 'string' || typeof url !== 'string' || typeof ca !== 'string') return undefined;
    try {
      const c = new X509Certificate(birthCert);
      new X509Certificate(ca);
      if (/(?:^|\n)CN=([^\n]+)/.exec(c.subject)?.[1] !== this.env.mac || !c.checkPrivateKey(createPrivateKey(birthKey))) return undefined;
    } catch {
      return undefined;
    }
    return url;
  }

  private readConfig(table: PartitionTable, problems: string[]): TdsConfig | undefined {
    const part: PartitionEntry | undefined = findPartition(table, 'tdscfg');
    if (!part) {
      problems.push('no "tdscfg" partition in the partition table');
      return undefined;
    }
    let values: Record<string, NvsValue> | undefined;
    try {
      values = nvsNamespace(readNvsImage(this.env.flash.read(part.offset, part.size)), 'tds');
    } catch (err) {
      problems.push(`tdscfg unreadable: ${(err as Error).message}`);
      return undefined;
    }
    if (!values) {
      problems.push('tdscfg has no "tds" namespace (partition empty: not provisioned)');
      return undefined;
    }
    this.line('I', 'tds', `config: tdscfg @0x${part.offset.toString(16)}, ${Object.keys(values).length} keys, gw_code ${String(values.gw_code ?? '-')}, cfg_ver ${String(values.cfg_ver ?? '-')}`);
    const str = (k: string): string => {
      const v = values[k];
      if (v === undefined || v === '') {
        problems.push(`${k} is missing`);
        return '';
      }
      if (typeof v !== 'string') {
        problems.push(`${k} is not a string`);
        return '';
      }
      return v;
    };
    const cfg: TdsConfig = {
      ca_pem: str('ca_pem'),
      cert_pem: str('cert_pem'),
      key_pem: str('key_pem'),
      mqtt_host: str('mqtt_host'),
      wifi_ssid: str('wifi_ssid'),
      mqtt_port: 0,
    };
    const port = values.mqtt_port;
    if (typeof port === 'number' && port > 0 && port < 65536) cfg.mqtt_port = port;
    else problems.push(port === undefined ? 'mqtt_port is missing' : 'mqtt_port is not a u16 port number');
    if (typeof values.gw_code === 'string') cfg.gw_code = values.gw_code;
    if (values.mac !== undefined && values.mac !== this.env.mac) {
      problems.push(`mac in tdscfg is ${String(values.mac)} but this chip's MAC is ${this.env.mac} (image made for another board)`);
    }
    if (cfg.cert_pem) {
      try {
        const cert = new X509Certificate(cfg.cert_pem);
        const cn = /(?:^|\n)CN=([^\n]+)/.exec(cert.subject)?.[1];
        if (cn !== this.env.mac) problems.push(`cert_pem CN is '${cn ?? ''}' but this chip's MAC is ${this.env.mac}`);
        if (cfg.ca_pem) {
          try {
            if (!cert.verify(new X509Certificate(cfg.ca_pem).publicKey)) problems.push('cert_pem is not signed by ca_pem');
          } catch {
            problems.push('ca_pem is not a PEM certificate');
          }
        }
        if (cfg.key_pem && !cert.checkPrivateKey(createPrivateKey(cfg.key_pem))) problems.push('key_pem does not match cert_pem');
      } catch (err) {
        problems.push(`cert_pem/key_pem unusable: ${(err as Error).message}`);
      }
    }
    return problems.length === 0 ? cfg : undefined;
  }

  private async connect(cfg: TdsConfig): Promise<void> {
    const mac = this.env.mac;
    this.state = 'connecting';
    this.line('I', 'tds', `mqtt: connecting to mqtts://${cfg.mqtt_host}:${cfg.mqtt_port} as ${mac}`);
    // Loaded on the first app start: a board that is only flashed never needs it.
    const { default: mqtt } = await import('mqtt');
    if (this.stopped) return;
    const client = mqtt.connect({
      protocol: 'mqtts',
      host: cfg.mqtt_host,
      port: cfg.mqtt_port,
      clientId: mac,
      ca: cfg.ca_pem,
      cert: cfg.cert_pem,
      key: cfg.key_pem,
      rejectUnauthorized: true,
      protocolVersion: 4,
      clean: true,
      keepalive: 30,
      reconnectPeriod: 3000,
      connectTimeout: 10_000,
      will: { topic: topics.status(mac), payload: Buffer.from('offline'), retain: true, qos: 1 },
    });
    this.client = client;
    client.on('connect', () => {
      if (this.stopped) return;
      this.state = 'online';
      this.lastError = '';
      this.line('I', 'tds', `mqtt connected: online as ${mac}`);
      client.publish(topics.status(mac), 'online', { retain: true, qos: 1 });
      client.subscribe(topics.commands(mac), { qos: 1 });
      this.env.event('mqtt', 'connected');
      this.startTelemetry(client);
    });
    client.on('message', (topic, payload) => this.onCommand(client, topic, payload.toString('utf8')));
    client.on('error', (err) => {
      if (this.stopped) return;
      const msg = err.message;
      if (msg !== this.lastError) this.line('E', 'tds', `mqtt: connect failed: ${msg}`);
      this.lastError = msg;
      this.env.event('mqtt-error', msg);
    });
    client.on('close', () => {
      if (this.stopped) return;
      if (this.state === 'online') {
        this.line('W', 'tds', 'mqtt: connection lost, reconnecting');
        this.env.event('mqtt', 'disconnected');
      }
      this.state = 'connecting';
      this.stopTelemetry();
    });
  }

  private startTelemetry(client: MqttClient): void {
    this.stopTelemetry();
    const mac = this.env.mac;
    const send = (): void => {
      const t = (Date.now() - this.started) / 1000;
      const payload: TelemetryPayload = {
        timestamp: new Date().toISOString(),
        valor: Math.round((22 + 3 * Math.sin(t / 60) + Math.random() * 0.2) * 100) / 100,
        unidade: '°C',
        gateway_mac: mac,
        firmware_version: FIRMWARE_VERSION,
      };
      client.publish(topics.telemetry(mac), JSON.stringify(payload), { qos: 0 });
    };
    send();
    this.telemetryTimer = setInterval(send, this.env.telemetryIntervalMs);
  }

  private stopTelemetry(): void {
    if (this.telemetryTimer) clearInterval(this.telemetryTimer);
    this.telemetryTimer = undefined;
  }

  private onCommand(client: MqttClient, topic: string, text: string): void {
    const mac = this.env.mac;
    if (topic !== topics.commands(mac)) return;
    let cmd: { cmd?: unknown; id?: unknown };
    try {
      cmd = JSON.parse(text) as { cmd?: unknown; id?: unknown };
      if (typeof cmd !== 'object' || cmd === null) throw new Error('not an object');
    } catch {
      this.line('W', 'tds', 'command: not a JSON object, rejected');
      client.publish(topics.logs(mac), JSON.stringify({ event: 'command_rejected', detail: 'not a JSON object' }), { qos: 0 });
      return;
    }
    const id = typeof cmd.id === 'string' ? cmd.id : typeof cmd.id === 'number' ? String(cmd.id) : '';
    // Same `logs` JSON as firmware/esp32 (tds_topics.cpp logEventJson, tds_app.cpp pong).
    const publishLog = (event: string, extra: Record<string, unknown> = {}): void => {
      client.publish(topics.logs(mac), JSON.stringify({ event, ...(id ? { id } : {}), ...extra }), { qos: 0 });
    };
    this.line('I', 'tds', `command ${String(cmd.cmd)} (id ${id || '-'})`);
    switch (cmd.cmd) {
      case 'ping':
        publishLog('pong', { uptime_ms: Date.now() - this.started, firmware_version: FIRMWARE_VERSION });
        client.publish(topics.status(mac), 'online', { retain: true, qos: 1 });
        return;
      case 'reboot':
        publishLog('rebooting');
        this.line('I', 'tds', 'reboot requested');
        // Clean shutdown: say offline ourselves, then disconnect (no Last Will), then reset.
        client.publish(topics.status(mac), 'offline', { retain: true, qos: 1 }, () => {
          this.stopped = true;
          this.stopTelemetry();
          client.end(false, {}, () => this.env.softwareReset());
        });
        return;
      default:
        publishLog('command_rejected', { detail: `unknown cmd '${String(cmd.cmd)}'` });
    }
  }

  /** Power loss / reset: the TCP connection dies without a DISCONNECT, so the broker sends the Last Will. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.state = 'stopped';
    this.stopTelemetry();
    const client = this.client;
    this.client = undefined;
    if (client) await new Promise<void>((resolve) => client.end(true, {}, () => resolve()));
  }
}
