/**
 * Operators first: the zero-touch device endpoints and new TLS connections wait for the gaps between
 * the other requests (server/src/api/device-gate.ts). The gate on its own (priority, starvation,
 * busy answers), the admission limit's spread Retry-After, and a real server: device requests that
 * cannot start are answered 429 busy with Retry-After while an operator request is served at once.
 */
import type { ClientRequest } from 'node:http';
import https from 'node:https';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApiToken, initServerData, startServer, type RunningServer } from '@tds/server';
import { AdmissionLimiter } from '../src/api/admission.js';
import { DEFAULT_GATE, DeviceGate, GateBusyError } from '../src/api/device-gate.js';
import { MemoryRateCounters } from '../src/store/counters.js';
import { tempDir } from '../../test/support/temp.js';
import { rawRequest } from './support/http.js';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const gate = (over: Partial<ConstructorParameters<typeof DeviceGate>[0]> = {}): DeviceGate => new DeviceGate({ ...DEFAULT_GATE, ratePerSecond: 10, ...over });

describe('the device gate', () => {
  it('a device request waits while a priority request is in flight and starts when it ends', async () => {
    const g = gate({ starveMs: 60_000 });
    const exit = g.enterPriority();
    let started = false;
    const slot = g.acquire().then((release) => {
      started = true;
      return release;
    });
    await sleep(50);
    expect(started).toBe(false);
    expect(g.state()).toMatchObject({ priorityInFlight: 1, devicesWaiting: 1, devicesRunning: 0 });
    exit();
    (await slot)();
    expect(started).toBe(true);
    expect(g.state()).toMatchObject({ priorityInFlight: 0, devicesWaiting: 0, devicesRunning: 0 });
  });

  it('priority requests that keep coming cannot stall the devices: one starts after starveMs', async () => {
    const g = gate({ starveMs: 100 });
    const exit = g.enterPriority();
    const t = performance.now();
    const release = await g.acquire();
    expect(performance.now() - t).toBeGreaterThanOrEqual(95);
    release();
    exit();
  });

  it('a device request that cannot start within maxWaitMs, or finds the queue full, is refused with a Retry-After', async () => {
    const g = gate({ concurrency: 1, maxWaitMs: 100, maxWaiting: 2, ratePerSecond: 1 });
    const first = await g.acquire();
    const waiting = [g.acquire(), g.acquire()];
    // The queue is full: refused at once, Retry-After = the waiting requests at 1 per second.
    await expect(g.acquire()).rejects.toMatchObject({ retryAfterSeconds: 2 });
    for (const w of waiting) await expect(w).rejects.toBeInstanceOf(GateBusyError);
    first();
    (await g.acquire())();
  });

  it('the admission limit tells a refused crowd to come back over the next seconds', async () => {
    const t = 5_000;
    const limiter = new AdmissionLimiter(new MemoryRateCounters(() => t), 10, 10, () => t);
    const after: number[] = [];
    for (let i = 0; i < 40; i++) if (!(await limiter.take())) after.push(limiter.retryAfterSeconds());
    expect(after).toHaveLength(30);
    expect(after.slice(0, 10).every((s) => s === 1)).toBe(true);
    expect(after.slice(10, 20).every((s) => s === 2)).toBe(true);
    expect(after.slice(20).every((s) => s === 3)).toBe(true);
  });
});

describe('a busy server (real server, HTTPS)', () => {
  const PASS = 'device gate passphrase';
  const dir = tempDir('tds-device-gate-');
  const dataDir = path.join(dir.path, 'data');
  let server: RunningServer;
  let token: string;
  const held: ClientRequest[] = [];

  /** A request whose body never finishes: it stays in flight until destroyed. */
  const hold = (p: string, localAddress: string, headers: Record<string, string> = {}): Promise<void> =>
    new Promise((resolve, reject) => {
      const req = https.request(`${server.apiUrl}${p}`, { method: 'POST', ca: server.caPem, agent: false, localAddress, headers: { 'content-type': 'application/json', 'content-length': '64', ...headers } });
      req.on('error', () => {});
      req.on('socket', (s) => s.once('secureConnect', () => resolve()));
      req.once('error', reject);
      req.write('{"mac_address": ');
      held.push(req);
    });
  const release = (): void => {
    for (const r of held.splice(0)) r.destroy();
  };
  const poll = (from: string) => rawRequest(server.apiUrl, server.caPem, { path: '/gateways/bootstrap/0123456789abcdef0123456789abcdef/', localAddress: from, headers: { 'x-tds-timestamp': '1', 'x-tds-signature': 'AA==' } });

  beforeAll(async () => {
    await initServerData({ dataDir, passphrase: PASS });
    server = await startServer({ dataDir, passphrase: PASS, port: 0, logger: { info() {}, warn() {}, error() {} } });
    const account = await server.repo.createAccount('gate', { at: '2026-01-01T00:00:00Z', accountId: null, actor: 'test', action: 'account.create', object: null, sourceIp: null, result: 'ok', detail: null });
    token = (await createApiToken(server.repo, { accountId: account.id, role: 'operator' }, 'test')).token;
  });

  afterAll(async () => {
    release();
    await server?.close();
    dir.remove();
  });

  it('while an operator request is in flight, new connections and device requests wait (up to the starvation bound); then they are served', async () => {
    await hold('/gateways/provision/', '127.0.5.1', { authorization: `Token ${token}` });
    await sleep(100);
    const t = performance.now();
    const r = await poll('127.0.5.2');
    expect(r.json.details?.code).toBe('not_found');
    // Its connection and then its request each waited for the gap that never came, then started.
    expect(performance.now() - t).toBeGreaterThanOrEqual(2 * DEFAULT_GATE.starveMs - 20);
    release();
    expect((await poll('127.0.5.3')).json.details?.code).toBe('not_found');
  });

  it('when every device slot is taken, a device request is answered 429 busy with Retry-After while an operator request is served at once', async () => {
    for (let i = 0; i < DEFAULT_GATE.concurrency; i++) await hold('/gateways/bootstrap/nonce/', `127.0.5.${10 + i}`);
    await sleep(100);
    const t = performance.now();
    const device = poll('127.0.5.20');
    // The operator is not behind the devices: answered while the device request still waits.
    const operator = await rawRequest(server.apiUrl, server.caPem, { path: '/gateways/', token, localAddress: '127.0.5.21' });
    expect(operator.status).toBe(200);
    const operatorMs = performance.now() - t;
    const busy = await device;
    const deviceMs = performance.now() - t;
    expect(busy.status).toBe(429);
    expect(busy.json.details?.code).toBe('busy');
    expect(Number(busy.headers['retry-after'])).toBeGreaterThanOrEqual(1);
    expect(deviceMs).toBeGreaterThanOrEqual(DEFAULT_GATE.maxWaitMs - 50);
    expect(operatorMs).toBeLessThan(deviceMs);
    release();
    expect((await poll('127.0.5.22')).json.details?.code).toBe('not_found');
  }, 20_000);

  it('devices that give up while they wait do not keep a device slot', async () => {
    for (let i = 0; i < DEFAULT_GATE.concurrency; i++) await hold('/gateways/bootstrap/nonce/', `127.0.5.${30 + i}`);
    // As many devices as there are slots queue behind them, then hang up.
    const quitters = Array.from({ length: DEFAULT_GATE.concurrency }, (_, i) => {
      const req = https.request(`${server.apiUrl}/gateways/bootstrap/0123456789abcdef0123456789abcdef/`, { ca: server.caPem, agent: false, localAddress: `127.0.5.${40 + i}` });
      req.on('error', () => {});
      req.end();
      return req;
    });
    await sleep(300);
    for (const q of quitters) q.destroy();
    await sleep(100);
    release();
    await sleep(100);
    const t = performance.now();
    expect((await poll('127.0.5.50')).json.details?.code).toBe('not_found');
    expect(performance.now() - t).toBeLessThan(DEFAULT_GATE.maxWaitMs);
  }, 20_000);
});
