import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dispatch } from '../../src/main/station/dispatch.js';
import type { StationService } from '../../src/main/station/service.js';
import type { BenchDevice } from '../../src/shared/views.js';
import { startEsp32Sim, type Esp32Sim } from '../sim/esp32/launch.js';
import { SimDeviceSource } from '../sim/esp32/sim-device-source.js';
import { tempDir } from '../support/temp.js';
import { startCoreInProcess } from './renderer-build.js';

/**
 * The Bench core behind two of the screen's controls, through the validated contract: a scanned
 * gateway code assigned to a board, and the live serial console of an idle board (what the board
 * prints reaches the client as `console.data`).
 */
describe('Bench: scanned codes and the live serial console', () => {
  const tmp = tempDir('tds-bench-console-');
  const source = new SimDeviceSource();
  let sim: Esp32Sim;
  let st: StationService;

  beforeAll(async () => {
    sim = await startEsp32Sim({ mac: '24:6f:28:c0:00:01' });
    await source.add(sim);
    st = await startCoreInProcess(tmp.path, source);
  }, 60_000);
  afterAll(async () => {
    await st?.close();
    source.close();
    await sim?.stop();
    tmp.remove();
  });

  const call = (ch: string, p: unknown) => dispatch(st.handlers, ch, p, () => undefined);
  const board = async (): Promise<BenchDevice> => {
    for (let i = 0; i < 100; i++) {
      const d = st.bench.state().devices.find((x) => x.path === sim.hostPath);
      if (d) return d;
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error(`${sim.hostPath} never appeared on the bench`);
  };

  it('assigns a scanned gateway code to a board and refuses a code the server would refuse', async () => {
    const d = await board();
    const ok = await call('bench.assignCode', { deviceId: d.id, code: 'GW-0001' });
    expect(ok).toMatchObject({ ok: true, value: { id: d.id, gatewayCode: 'GW-0001' } });
    const bad = await call('bench.assignCode', { deviceId: d.id, code: "GW'; DROP" });
    expect(bad).toMatchObject({ ok: false, error: { code: 'INVALID_INPUT', issues: [expect.objectContaining({ field: 'code' })] } });
    expect(st.bench.state().devices.find((x) => x.id === d.id)?.gatewayCode).toBe('GW-0001');
  });

  it('streams what an idle board prints to the console, and closes it on request', async () => {
    const d = await board();
    let text = '';
    const off = st.bus.subscribe((event, payload) => {
      if (event === 'console.data' && (payload as { deviceId: string }).deviceId === d.id) text += (payload as { text: string }).text;
    });
    try {
      const opened = await call('bench.console', { deviceId: d.id, open: true });
      expect(opened).toMatchObject({ ok: true, value: { consoleOpen: true } });
      // The operator taps EN: the ROM's boot banner must show up in the console.
      await sim.sendControl('RESET');
      for (let i = 0; i < 100 && !/ets Jun {1,2}8 2016/.test(text); i++) await new Promise((r) => setTimeout(r, 50));
      expect(text).toMatch(/ets Jun {1,2}8 2016/);
      const closed = await call('bench.console', { deviceId: d.id, open: false });
      expect(closed).toMatchObject({ ok: true, value: { consoleOpen: false } });
    } finally {
      off();
    }
  });
});
