import mqtt, { type MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { topics } from '@tds/server/contract';
import { JobFailure } from '../../src/main/jobs/index.js';
import { BrokerMonitor } from '../../src/main/monitor/index.js';
import { startBackend, type Backend } from '../support/backend.js';

// The station monitor identity against the server's embedded broker (aedes with the same rules),
// and a device identity issued by the server (server-made key, seed-compatible provision).
describe('BrokerMonitor', () => {
  let backend: Backend;
  let monitor: BrokerMonitor;
  let device: MqttClient;
  const mac = '24:6f:28:ee:00:01';

  beforeAll(async () => {
    backend = await startBackend({ broker: 'embedded', monitorName: 'monitor-test' });
    const issued = await backend.server.client('operator').provision({ mac_address: mac, codigo: 'MON-1', nome: 'Monitor test', conta_id: backend.server.contaId });
    device = mqtt.connect({
      protocol: 'mqtts',
      host: backend.broker.host,
      port: backend.broker.port,
      ca: issued.ca_pem,
      cert: issued.certificate_pem,
      key: issued.private_key_pem!,
      clientId: mac,
      protocolVersion: 4,
      reconnectPeriod: 0,
    });
    await new Promise<void>((resolve, reject) => {
      device.once('connect', () => resolve());
      device.once('error', reject);
    });
    // A retained "online" from before the monitor exists: a hint, never proof.
    await device.publishAsync(topics.status(mac), 'online', { retain: true, qos: 1 });
    monitor = await BrokerMonitor.connect({
      host: backend.broker.host,
      port: backend.broker.port,
      ca: backend.monitor.caPem,
      cert: backend.monitor.certPem,
      key: backend.monitor.keyPem,
    });
  }, 180_000);

  afterAll(async () => {
    device?.end(true);
    await monitor?.close();
    await backend?.stop();
  });

  it('keeps retained state as a hint and only a live message ends a wait', async () => {
    for (let i = 0; i < 50 && monitor.presence(mac).status !== 'online'; i++) await new Promise((r) => setTimeout(r, 20));
    expect(monitor.presence(mac)).toMatchObject({ status: 'online' });
    expect(monitor.presence(mac).lastLiveOnlineAt).toBeUndefined();
    const since = Date.now();
    const early = await Promise.race([
      monitor.waitForOnline(mac, { timeoutMs: 5000, since }).then(() => 'resolved'),
      new Promise((r) => setTimeout(() => r('still waiting'), 300)),
    ]);
    expect(early).toBe('still waiting');
    const waiting = monitor.waitForOnline(mac, { timeoutMs: 5000, since });
    await device.publishAsync(topics.status(mac), 'online', { retain: true, qos: 1 });
    const e = await waiting;
    expect(e).toMatchObject({ mac, kind: 'status', payload: 'online', retained: false });
    // Seen already: a second wait with the same `since` resolves at once.
    await expect(monitor.waitForOnline(mac, { timeoutMs: 100, since })).resolves.toMatchObject({ kind: 'status' });
  });

  it('counts telemetry as alive unless only a status will do', async () => {
    const since = Date.now() + 1;
    await new Promise((r) => setTimeout(r, 5));
    const any = monitor.waitForOnline(mac, { timeoutMs: 5000, since });
    const statusOnly = monitor.waitForOnline(mac, { timeoutMs: 800, since, statusOnly: true });
    await device.publishAsync(topics.telemetry(mac), JSON.stringify({ timestamp: Date.now(), valor: 1, unidade: 'C', gateway_mac: mac }), { qos: 1 });
    await expect(any).resolves.toMatchObject({ kind: 'telemetry' });
    const err = await statusOnly.catch((x: unknown) => x);
    expect(err).toBeInstanceOf(JobFailure);
    expect(err).toMatchObject({ code: 'BROKER_NEVER_SAW_DEVICE', where: 'monitor connected, no status from the device' });
    expect(monitor.presence(mac).alive).toBe(true);
  });

  it('stops waiting when cancelled', async () => {
    const ac = new AbortController();
    const w = monitor.waitForOnline('24:6f:28:ee:00:99', { timeoutMs: 10_000, signal: ac.signal });
    ac.abort();
    await expect(w).rejects.toMatchObject({ name: 'AbortError' });
  });

  it('refuses to start with an identity the broker does not trust, saying what to check', async () => {
    const err = await BrokerMonitor.connect({
      host: backend.broker.host,
      port: backend.broker.port,
      ca: backend.monitor.caPem,
      cert: backend.monitor.caPem, // not a client certificate with a key
      key: backend.monitor.keyPem,
      connectTimeoutMs: 3000,
    }).catch((x: unknown) => x);
    expect(err).toBeInstanceOf(JobFailure);
    expect((err as JobFailure).message).toMatch(/cannot watch the broker/);
    expect((err as JobFailure).hint).toMatch(/monitor certificate/);
  });
});
