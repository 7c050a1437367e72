import { readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiClientIssuer } from '../../src/main/certs/api-client-issuer.js';
import { loadBundle, type FirmwareBundle } from '../../src/main/esp32/bundle.js';
import { EspSession, type FlashEngine, type FlashPart } from '../../src/main/esp32/esp-session.js';
import { esp32ProvisionJob } from '../../src/main/esp32/provision-job.js';
import { JobQueue } from '../../src/main/jobs/index.js';
import { startEsp32Sim, type Esp32Sim, type Esp32SimOptions } from '../sim/esp32/launch.js';
import { SimDeviceSource } from '../sim/esp32/sim-device-source.js';
import { startTestServer, type TestServer } from '../support/server.js';

// A compressed block whose answer comes late (host or USB stall, slow erase) or that arrives damaged
// must not corrupt the board's flash or the rest of the job. The flasher stub inflates every
// FLASH_DEFL_DATA block it gets and ignores the sequence number, so re-sending a block it already
// took corrupts the stream; this was the demo's "Failed to leave compressed flash mode … status
// 199,0" (0xC7, inflate error) at wire rate.
const FIXTURE = path.resolve(import.meta.dirname, '../fixtures/bundle-arduino');
const MANIFEST = path.join(FIXTURE, 'manifest.json');
const file = (name: string): Uint8Array => readFileSync(path.join(FIXTURE, name));
const PARTS: FlashPart[] = [
  { name: 'bootloader.bin', address: 0x1000, data: file('bootloader.bin') },
  { name: 'partitions.bin', address: 0x8000, data: file('partitions.bin') },
  { name: 'boot_app0.bin', address: 0xe000, data: file('boot_app0.bin') },
  { name: 'app.bin', address: 0x10000, data: file('app.bin') },
];
const APP = PARTS[3]!;

describe('flashing survives late answers and damaged blocks (simulator)', () => {
  const sims: Esp32Sim[] = [];
  const source = new SimDeviceSource();

  afterAll(async () => {
    source.close();
    await Promise.all(sims.map((s) => s.stop()));
  });

  async function board(mac: string, options: Esp32SimOptions = {}): Promise<Esp32Sim> {
    const sim = await startEsp32Sim({ mac, ...options });
    sims.push(sim);
    await source.add(sim);
    return sim;
  }

  /**
   * Connects at 921600, erases the flash (a new board: otherwise parts it already holds would be
   * skipped) and flashes; resolves with the session log, or rejects with the failure.
   */
  async function flash(sim: Esp32Sim, parts: FlashPart[], engine: FlashEngine = 'station'): Promise<string[]> {
    const device = (await source.list()).find((d) => d.path === sim.hostPath)!;
    const lines: string[] = [];
    const session = await EspSession.connect(source.link(device), {
      baud: 921600,
      resetMode: 'auto',
      flashEngine: engine,
      signal: new AbortController().signal,
      log: (text, level = 'info') => void lines.push(`${level} ${text}`),
    });
    try {
      await session.esploader.eraseFlash();
      await session.flash(parts);
      return lines;
    } finally {
      await session.close();
    }
  }

  function expectFlashed(sim: Esp32Sim, parts: FlashPart[]): void {
    for (const p of parts) expect(Buffer.compare(sim.readFlash(p.address, p.data.length), Buffer.from(p.data)), p.name).toBe(0);
  }

  const writesOfApp = (sim: Esp32Sim): number => sim.output().split('\n').filter((l) => /compressed write of 742192 bytes at 0x10000 begins/.test(l)).length;

  it('a block answered after the timeout is not sent twice: the part starts again and verifies', async () => {
    const sim = await board('24:6f:28:fa:00:01', { faults: ['late-ack=3500'] });
    const lines = await flash(sim, PARTS);
    expect(sim.output()).toMatch(/fault late-ack: answering block seq 2 3500 ms late/);
    expect(lines).toContainEqual(expect.stringMatching(/^warn \[flash\] app\.bin: block 3 of \d+: no answer within 3000 ms; writing app\.bin again from its start \(attempt 2 of 3\)/));
    expect(sim.output()).not.toMatch(/write failed after ACK/); // the stub's stream was never corrupted
    expect(writesOfApp(sim)).toBe(2);
    expectFlashed(sim, PARTS);
  }, 90_000);

  it("esptool-js's own writeFlash re-sends that block and the stub's inflater fails (why the station has its own loop)", async () => {
    const sim = await board('24:6f:28:fa:00:02', { faults: ['late-ack=3500'] });
    // 192 KiB of the app is enough blocks for the fault (it hits the third) and keeps esptool's per-byte inflate short.
    const err = await flash(sim, [{ ...APP, data: APP.data.subarray(0, 0x30000) }], 'esptool').catch((e: unknown) => e);
    // Where esptool notices, and as what (0xC7 inflate, 0xC9 too much, 0xC0 data missing), depends on
    // timing; the stub's inflate error is the constant.
    expect(err).toMatchObject({ code: 'FLASH_WRITE_FAILED', message: expect.stringMatching(/failed with status (192|199|201),0/) });
    expect(sim.output()).toMatch(/write failed after ACK: error 0xc[79]/);
  }, 90_000);

  it('a block damaged on the way (checksum still right) is caught by the next answer; the part starts again and verifies', async () => {
    const sim = await board('24:6f:28:fa:00:03', { faults: ['inflate-error=once'] });
    const lines = await flash(sim, PARTS);
    expect(lines).toContainEqual(
      expect.stringMatching(/^warn \[flash\] app\.bin: block 4 of \d+: the board answered status 0xc7 \(inflate error.*\); writing app\.bin again from its start \(attempt 2 of 3\)/),
    );
    expect(writesOfApp(sim)).toBe(2);
    expectFlashed(sim, PARTS);
  }, 90_000);

  it('a block the board refused is sent again as it is; refused three times, the write fails (the line loses data at this speed)', async () => {
    const sim = await board('24:6f:28:fa:00:04', { faults: ['bad-checksum=2'] });
    const lines = await flash(sim, PARTS);
    expect(lines.filter((l) => /^warn \[flash\] bootloader\.bin: the board refused block 1 of 1 \(status 0xc1 \(bad checksum\)\); sending it again$/.test(l))).toHaveLength(2);
    expect(lines).not.toContainEqual(expect.stringMatching(/again from its start/));
    expectFlashed(sim, PARTS);

    await sim.sendControl('FAULT bad-checksum=3');
    const err = await flash(sim, PARTS).catch((e: unknown) => e);
    expect(err).toMatchObject({
      code: 'FLASH_WRITE_FAILED',
      message: 'Writing bootloader.bin failed: the board refused block 1 of 1 3 times (status 0xc1 (bad checksum)): the line loses data at this speed.',
      where: 'bootloader.bin at 0x1000, 0 of 15552 bytes written',
    });
  }, 90_000);

  it('throttled boards in parallel, two rounds, one late answer: every flash verifies and no byte is lost to a speed mismatch', async () => {
    const boards = [await board('24:6f:28:fa:00:11', { throttle: true }), await board('24:6f:28:fa:00:12', { throttle: true }), await board('24:6f:28:fa:00:13', { throttle: true })];
    for (const round of [1, 2]) {
      if (round === 2) await boards[1]!.sendControl('FAULT late-ack=3500');
      const results = await Promise.allSettled(boards.map((b) => flash(b, PARTS)));
      expect(results.map((r) => (r.status === 'rejected' ? String(r.reason) : 'ok')), `round ${round}`).toEqual(['ok', 'ok', 'ok']);
    }
    for (const b of boards) {
      expectFlashed(b, PARTS);
      expect((await b.status()).baudMismatch).toEqual({ droppedBytes: 0, garbledBytes: 0 });
    }
    expect(writesOfApp(boards[1]!)).toBe(3); // once in round 1, twice in round 2
  }, 90_000);
});

describe('a flash failure that does not go away fails the job with its place; the retry succeeds', () => {
  let server: TestServer;
  let issuer: ApiClientIssuer;
  let bundle: FirmwareBundle;
  let sim: Esp32Sim;
  const source = new SimDeviceSource();
  const queue = new JobQueue({ concurrency: 2 });

  beforeAll(async () => {
    server = await startTestServer({ mqttBroker: '127.0.0.1', mqttPort: 8883 });
    issuer = new ApiClientIssuer(server.client('operator'));
    bundle = await loadBundle(MANIFEST);
    sim = await startEsp32Sim({ mac: '24:6f:28:fa:00:21', faults: ['inflate-error=always'] });
    await source.add(sim);
  }, 120_000);

  afterAll(async () => {
    await queue.shutdown();
    source.close();
    await sim?.stop();
    issuer?.close();
    await server?.stop();
  });

  it('says which part and where, and a retry after the fault is gone ends with a verified flash', async () => {
    const device = (await source.list())[0]!;
    const settings = {
      accountId: server.contaId,
      codeTemplate: 'GW-{mac12}',
      nameTemplate: 'Bench {MAC12}',
      broker: { host: '127.0.0.1', port: 8883 },
      wifi: { ssid: 'bench', password: 'bench-pass' },
      baud: 921600,
      resetMode: 'auto' as const,
      onlineTimeoutMs: 10_000,
      keyType: 'ec' as const,
      keyMode: 'station' as const,
      operator: 'tester',
      stationId: 'bench-test',
      reprovision: 'stop' as const,
      bootLogMs: 300,
    };
    const first = await queue.wait(queue.submit(esp32ProvisionJob({ device, openLink: () => source.link(device), bundle, issuer, settings })));
    expect(first.state).toBe('failed');
    expect(first.error).toMatchObject({
      code: 'FLASH_WRITE_FAILED',
      where: expect.stringMatching(/^flash: app\.bin at 0x10000, \d+ of 742192 bytes written$/),
      message: expect.stringMatching(/Writing app\.bin failed 3 times; last: block 4 of \d+: the board answered status 0xc7 \(inflate error/),
    });

    await sim.sendControl('FAULT clear inflate-error');
    const retry = await queue.wait(queue.retry(first.id));
    expect({ state: retry.state, error: retry.error }).toEqual({ state: 'succeeded', error: undefined });
    expect(Buffer.compare(sim.readFlash(APP.address, APP.data.length), Buffer.from(APP.data))).toBe(0);
  }, 120_000);
});
