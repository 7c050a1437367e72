/**
 * `GET gateways/{id}/telemetry/latest/`: each series' newest readings, through the real server
 * (compiled CLI, embedded broker, its MQTT client storing what devices publish), with account
 * isolation, roles and bad query input.
 */
import type { MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ProvisionResponse, TelemetryLatestResponse } from '../../src/contract/index.js';
import { topics } from '../../src/contract/index.js';
import { startBackend, type Backend } from '../../../test/support/backend.js';
import { connect, end, type Endpoint, type Identity } from './support/clients.js';
import { quiet } from './support/harness.js';
import { apiCall } from './support/http.js';

const MAC = 'a4:cf:12:0a:00:01';

describe('telemetry/latest/: each series’ newest readings', () => {
  let b: Backend;
  let ep: Endpoint;
  let device: MqttClient | undefined;
  let gw: ProvisionResponse & Identity;
  let url: string;

  const get = <T = TelemetryLatestResponse>(query: string, token = b.server.tokens.operator) =>
    apiCall<T>(`${url}${query}`, { token, caPem: b.server.caPem });

  beforeAll(async () => {
    b = await startBackend({ broker: 'embedded' });
    ep = { host: b.broker.host, port: b.broker.port, caPem: b.broker.caPem };
    const r = await b.server.client().provision({ mac_address: MAC, codigo: 'GW-LATEST', nome: 'latest readings', conta_id: b.server.contaId });
    gw = { ...r, certPem: r.certificate_pem, keyPem: r.private_key_pem! };
    url = `${b.server.apiUrl}/gateways/${gw.gateway_id}/telemetry/latest/`;
    device = await connect(ep, gw, { clientId: MAC });
    const send = (valor: number, unidade: string, slave?: number, register?: number) =>
      device!.publishAsync(
        topics.telemetry(MAC),
        JSON.stringify({ timestamp: new Date().toISOString(), valor, unidade, gateway_mac: MAC, ...(slave !== undefined ? { slave_id: slave, register } : {}) }),
        { qos: 1 },
      );
    // A slow register first (read once), then a fast one that would crowd it out of a plain "newest N".
    await send(21.5, '°C', 2, 0);
    for (let i = 1; i <= 5; i++) await send(i, 'kWh', 1, 0);
    for (let i = 1; i <= 3; i++) await send(220 + i, 'V', 1, 2);
    await send(7, 'm3'); // a reading without slave/register (the seed's minimal payload)
    const deadline = Date.now() + 10_000;
    for (;;) {
      const r = await get('?per_series=500');
      const n = r.status === 200 ? r.body.series.reduce((sum, x) => sum + x.results.length, 0) : 0;
      if (n === 10) break;
      if (Date.now() > deadline) throw new Error(`telemetry not stored: ${JSON.stringify(r.body)}`);
      await quiet(100);
    }
  }, 60_000);

  afterAll(async () => {
    await end(device);
    await b?.stop();
  });

  it('returns every series, each with its newest readings oldest first, ordered by slave, register and unit', async () => {
    const r = await get('?per_series=2');
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ gateway_id: gw.gateway_id, mac_address: MAC });
    expect(r.body.series.map((s) => [s.slave_id, s.register, s.unidade, s.results.map((x) => x.valor)])).toEqual([
      [null, null, 'm3', [7]],
      [1, 0, 'kWh', [4, 5]],
      [1, 2, 'V', [222, 223]],
      [2, 0, '°C', [21.5]],
    ]);
    expect(r.body.series[1]!.results[1]).toMatchObject({ valor: 5, unidade: 'kWh', slave_id: 1, register: 0, timestamp: expect.any(String), received_at: expect.any(String) });
    // The default keeps 60 per series; a `since` after the last reading leaves nothing.
    expect((await get('')).body.series.map((s) => s.results.length)).toEqual([1, 5, 3, 1]);
    expect((await get(`?since=${encodeURIComponent(new Date(Date.now() + 60_000).toISOString())}`)).body.series).toEqual([]);
  });

  it('is described in the OpenAPI document', async () => {
    const anon = b.server.client(null);
    try {
      const paths = (await anon.getOpenApi()).paths as Record<string, { get?: { parameters?: Array<{ name: string }> } }>;
      expect(paths['/gateways/{id}/telemetry/latest/']?.get?.parameters?.map((p) => p.name)).toEqual(['id', 'since', 'per_series']);
      expect(paths['/gateways/{id}/telemetry/']?.get?.parameters?.map((p) => p.name)).toEqual(['id', 'since', 'after_id', 'limit']);
    } finally {
      anon.close();
    }
  });

  it('the typed client reads it too (since as a Date), with any role of the account', async () => {
    const api = b.server.client('auditor');
    try {
      const r = await api.latestTelemetry(gw.gateway_id, { since: new Date(Date.now() - 3_600_000), per_series: 1 });
      expect(r.series.map((s) => s.results.map((x) => x.valor))).toEqual([[7], [5], [223], [21.5]]);
    } finally {
      api.close();
    }
  });

  it('is a 404 for another account, a 401 without a valid token, a 400 naming the field for bad input', async () => {
    const other = await b.server.createAccount('other telemetry account');
    for (const token of [other.tokens.admin, other.tokens.operator, other.tokens.auditor]) {
      const r = await get<{ error: string }>('', token);
      expect(r.status).toBe(404);
      expect(JSON.stringify(r.body)).not.toContain('kWh');
    }
    expect((await get<{ error: string }>('', 'tds_not-a-real-token-000000000000')).status).toBe(401);
    for (const [query, field] of [
      ['?per_series=0', 'per_series'],
      ['?per_series=501', 'per_series'],
      ['?per_series=2.5', 'per_series'],
      ['?since=yesterday', 'since'],
      ['?since=1%27%20OR%201=1', 'since'],
    ] as const) {
      const r = await get<{ error: string; details?: { field?: string } }>(query);
      expect(r.status, query).toBe(400);
      expect(r.body.details?.field, query).toBe(field);
    }
    const badId = await apiCall<{ error: string }>(`${b.server.apiUrl}/gateways/abc/telemetry/latest/`, { token: b.server.tokens.operator, caPem: b.server.caPem });
    expect(badId.status).toBe(400);
    const missing = await apiCall<{ error: string }>(`${b.server.apiUrl}/gateways/999999/telemetry/latest/`, { token: b.server.tokens.operator, caPem: b.server.caPem });
    expect(missing.status).toBe(404);
  });
});
