/**
 * esptool-js 0.7.0 (pinned) against the simulated board, through the station's Web Serial-shaped
 * adapter (src/main/esp32/web-serial-port.ts) over the simulator's device source: detect, stub,
 * 921600 baud, compressed + MD5-verified write of the Arduino bundle and a per-device tdscfg NVS
 * image, the working reboot sequence, and the board going online on a real Mosquitto.
 */
import { createHash, randomBytes } from 'node:crypto';
import { deflateSync } from 'node:zlib';
import { ESPLoader, Transport, type IEspLoaderTerminal } from 'esptool-js';
import mqtt, { type MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { topics } from '../../server/src/contract/topics.js';
import type { SerialLink } from '../../src/main/devices/serial-link.js';
import { LinkWebSerialPort } from '../../src/main/esp32/web-serial-port.js';
import { generateNvsImage, nvsNamespace, readNvsImage } from '../../src/main/esp32/nvs/index.js';
import { startMosquitto, type RunningMosquitto } from '../support/mosquitto.js';
import { freePort } from '../support/ports.js';
import { tempDir } from '../support/temp.js';
import { TDSCFG_OFFSET, TDSCFG_SIZE, bundleParts } from '../sim/esp32/flash-image.js';
import { startEsp32Sim, type Esp32Sim } from '../sim/esp32/launch.js';
import { SimDeviceSource } from '../sim/esp32/sim-device-source.js';
import { makeTestPki, writeMosquittoConf, type TestPki } from '../sim/esp32/test-pki.js';

const MAC = '24:6f:28:c0:ff:ee';

let tmp: ReturnType<typeof tempDir>;
let pki: TestPki;
let broker: RunningMosquitto;
let monitor: MqttClient;
const statuses: string[] = [];
const sims: Esp32Sim[] = [];
const sources: SimDeviceSource[] = [];

interface Session {
  link: SerialLink;
  port: LinkWebSerialPort;
  transport: Transport;
  loader: ESPLoader;
  log: string[];
}

async function connect(sim: Esp32Sim, baudrate: number): Promise<Session> {
  const source = new SimDeviceSource();
  sources.push(source);
  await source.add(sim);
  const [device] = await source.list();
  const link = source.link(device!);
  const port = new LinkWebSerialPort(link, { usbVendorId: device!.vendorId, usbProductId: device!.productId });
  const transport = new Transport(port as unknown as ConstructorParameters<typeof Transport>[0], false);
  transport.trace = () => undefined;
  const log: string[] = [];
  const terminal: IEspLoaderTerminal = { clean: () => undefined, write: (d) => void log.push(d), writeLine: (d) => void log.push(d) };
  const loader = new ESPLoader({ transport, baudrate, romBaudrate: 115200, terminal, debugLogging: false });
  return { link, port, transport, loader, log };
}

const md5 = (image: Uint8Array): string => createHash('md5').update(image).digest('hex');

beforeAll(async () => {
  tmp = tempDir('tds-simesptool-');
  pki = makeTestPki(tmp.path);
  broker = await startMosquitto(writeMosquittoConf(pki, await freePort()));
  const id = pki.client('station-monitor-esptool');
  monitor = mqtt.connect({ protocol: 'mqtts', host: '127.0.0.1', port: broker.port, ca: pki.caPem, cert: id.cert, key: id.key, clientId: 'station-monitor-esptool', reconnectPeriod: 0 });
  await new Promise<void>((resolve, reject) => {
    monitor.once('connect', () => resolve());
    monitor.once('error', reject);
  });
  monitor.on('message', (topic, payload) => {
    if (topic === topics.status(MAC)) statuses.push(payload.toString());
  });
  await monitor.subscribeAsync(topics.status(MAC), { qos: 1 });
});

afterAll(async () => {
  for (const s of sources) s.close();
  for (const s of sims) await s.stop();
  await monitor?.endAsync();
  await broker?.stop();
  tmp?.remove();
});

describe('esptool-js 0.7.0 against the simulator', () => {
  it('detects, flashes bundle + tdscfg at 921600 with MD5 verification, reboots, and the board goes online', async () => {
    const sim = await startEsp32Sim({ mac: MAC, telemetryIntervalMs: 1000 });
    sims.push(sim);
    const s = await connect(sim, 921600);

    const chip = await s.loader.main('default_reset');
    expect(chip).toBe('ESP32-D0WD-V3 (revision 3)');
    expect(await s.loader.chip.readMac(s.loader)).toBe(MAC);
    expect(s.log.join('\n')).toMatch(/Crystal is 40MHz/);
    expect(s.log.join('\n')).toMatch(/Flash ID: 1640ef/);
    expect(s.loader.IS_STUB).toBe(true);
    expect(s.transport.baudrate).toBe(921600);

    const device = pki.client(MAC);
    const nvs = generateNvsImage(
      [
        { namespace: 'tds', key: 'ca_pem', type: 'string', value: pki.caPem },
        { namespace: 'tds', key: 'cert_pem', type: 'string', value: device.cert },
        { namespace: 'tds', key: 'key_pem', type: 'string', value: device.key },
        { namespace: 'tds', key: 'wifi_ssid', type: 'string', value: 'Fabrica' },
        { namespace: 'tds', key: 'wifi_pass', type: 'string', value: 'senha-segura-123' },
        { namespace: 'tds', key: 'mqtt_host', type: 'string', value: '127.0.0.1' },
        { namespace: 'tds', key: 'mqtt_port', type: 'u16', value: broker.port },
        { namespace: 'tds', key: 'gw_code', type: 'string', value: 'GW-ESPTOOL' },
        { namespace: 'tds', key: 'mac', type: 'string', value: MAC },
        { namespace: 'tds', key: 'cfg_ver', type: 'u8', value: 1 },
      ],
      { size: TDSCFG_SIZE },
    );
    const parts = [...bundleParts().map((p) => ({ data: new Uint8Array(p.data), address: p.offset })), { data: nvs, address: TDSCFG_OFFSET }];
    await s.loader.writeFlash({
      fileArray: parts,
      flashMode: 'keep',
      flashFreq: 'keep',
      flashSize: 'keep',
      eraseAll: false,
      compress: true,
      calculateMD5Hash: (image) => md5(image),
    });
    expect(s.log.filter((l) => /Hash of data verified/.test(l))).toHaveLength(parts.length);

    // The flash now holds exactly what was sent, and the data partition reads back.
    for (const p of parts) expect(md5(sim.readFlash(p.address, p.data.length))).toBe(md5(p.data));
    expect(nvsNamespace(readNvsImage(sim.readFlash(TDSCFG_OFFSET, TDSCFG_SIZE)), 'tds')?.gw_code).toBe('GW-ESPTOOL');

    // The reboot that works on a normal board (esptool-js 0.7.0's hard reset never asserts RTS; see
    // docs/esp32-station.md), after going back to the app's 115200 baud.
    let bootLog = '';
    s.link.onData((chunk) => void (bootLog += Buffer.from(chunk).toString('latin1')));
    await s.link.setBaudRate(115200);
    await s.loader.after('custom_reset', undefined, 'D0|R1|W100|R0');
    s.port.keepLinkOpen = true;
    await s.transport.disconnect();

    await sim.waitForLog(/tds: mqtt connected/, 20_000);
    await expect.poll(() => statuses.at(-1), { timeout: 10_000 }).toBe('online');
    expect(bootLog).toContain('rst:0x1 (POWERON_RESET),boot:0x13 (SPI_FAST_FLASH_BOOT)');
    expect(bootLog).toMatch(/I \(\d+\) tds: mqtt connected/);
    await s.link.close();
  });

  it('throttled board: the baud change is followed (stty) and a write takes at least its wire time', async () => {
    const sim = await startEsp32Sim({ throttle: true });
    sims.push(sim);
    const s = await connect(sim, 921600);
    await s.loader.main('default_reset');
    expect(s.log.join('\n')).not.toMatch(/stopped responding|Continuing at 115200/);
    expect((await sim.status()).deviceBaud).toBe(921600);
    const data = new Uint8Array(randomBytes(96 * 1024));
    const compressed = deflateSync(data, { level: 9 }).length;
    const t0 = performance.now();
    await s.loader.writeFlash({ fileArray: [{ data, address: 0x10000 }], flashMode: 'keep', flashFreq: 'keep', flashSize: 'keep', eraseAll: false, compress: true, calculateMD5Hash: md5 });
    const seconds = (performance.now() - t0) / 1000;
    expect(seconds).toBeGreaterThanOrEqual(compressed / 92_160);
    expect(md5(sim.readFlash(0x10000, data.length))).toBe(md5(data));
    await s.transport.disconnect();
  });

  it('an MD5 mismatch (a bit flipped after writing) fails writeFlash', async () => {
    const sim = await startEsp32Sim({ faults: ['md5-mismatch'] });
    sims.push(sim);
    const s = await connect(sim, 921600);
    await s.loader.main('default_reset');
    const data = new Uint8Array(40_000).map((_, i) => (i * 7) & 0xff);
    await expect(
      s.loader.writeFlash({ fileArray: [{ data, address: 0x10000 }], flashMode: 'keep', flashFreq: 'keep', flashSize: 'keep', eraseAll: false, compress: true, calculateMD5Hash: md5 }),
    ).rejects.toThrow(/MD5 of file does not match data in flash/);
    await s.transport.disconnect();
  });

  it('the ROM-compatible detection path when GET_SECURITY_INFO is echoed (esptool-js reconnects)', async () => {
    const sim = await startEsp32Sim({ securityInfoEcho: true });
    sims.push(sim);
    const s = await connect(sim, 115200);
    expect(await s.loader.main('default_reset')).toMatch(/^ESP32-D0WD-V3/);
    expect(s.log.join('\n')).toMatch(/Autodetection failed, trying again/);
    await s.transport.disconnect();
  });
});
