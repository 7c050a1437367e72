import { readFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CertificateAuthority, CrlPublisher, SqliteRepository, type NewAuditEvent } from '@tds/server';
import { MqttStore } from '../src/mqtt/store.js';
import { SqliteMqttRepository } from '../src/store/sqlite/mqtt-repository.js';
import { TelemetryWriter } from '../src/mqtt/telemetry.js';
import { tempDir } from '../../test/support/temp.js';
import { OpenSsl } from './support/openssl.js';

/**
 * The two jobs the server runs on a clock: the CRL is re-signed well before nextUpdate (an expired
 * CRL makes Mosquitto refuse every client), and telemetry older than the retention setting is
 * deleted. Both are driven here through the functions their timers call, with a given "now".
 */
const DAY = 86_400_000;
const audit = (action: string): NewAuditEvent => ({ at: '2026-01-01T00:00:00Z', accountId: null, actor: 'test', action, object: null, sourceIp: null, result: 'ok', detail: null });

let dir: ReturnType<typeof tempDir>;
let repo: SqliteRepository;
beforeEach(() => {
  dir = tempDir('tds-schedules-');
  repo = new SqliteRepository(path.join(dir.path, 'db.sqlite'));
});
afterEach(async () => {
  await repo.close();
  dir.remove();
});

describe('scheduled CRL re-signing', () => {
  it('keeps the CRL until half its lifetime, then re-signs it with a higher CRL Number that openssl accepts', async () => {
    const { authority: ca } = await CertificateAuthority.generate();
    const crlFile = path.join(dir.path, 'crl.pem');
    const publisher = new CrlPublisher({ ca, repo, nextUpdateDays: 8, crlFile });
    const first = await publisher.ensureFresh();
    expect(readFileSync(crlFile, 'utf8')).toBe(first.pem);
    const start = Date.parse(first.thisUpdate);
    expect(Date.parse(first.nextUpdate) - start).toBe(8 * DAY);

    // Before half-life: the same CRL, nothing signed.
    expect((await publisher.ensureFresh(new Date(start + 3.9 * DAY))).crlNumber).toBe(first.crlNumber);
    // At half-life (4 of 8 days): a new one, well before the old one's nextUpdate.
    const second = await publisher.ensureFresh(new Date(start + 4 * DAY));
    expect(second.crlNumber).toBeGreaterThan(first.crlNumber);
    expect(second.pem).not.toBe(first.pem);
    expect(readFileSync(crlFile, 'utf8')).toBe(second.pem);
    expect((await repo.getLatestCrl())?.crlNumber).toBe(second.crlNumber);
    const ossl = new OpenSsl(dir.path);
    const text = await ossl.crlText(second.pem, ca.certificatePem);
    expect(text.ok, text.text).toBe(true);
    expect(text.text).toMatch(new RegExp(`CRL Number:\\s*\\n\\s*${second.crlNumber}\\b`));
    publisher.stop();
  });
});

describe('telemetry retention', () => {
  it('deletes readings received before the retention window and keeps the rest', async () => {
    const account = await repo.createAccount('A', audit('account.create'));
    const mac = 'aa:bb:cc:dd:ee:71';
    const gw = await repo.provisionGateway(
      {
        accountId: account.id,
        mac,
        codigo: 'GW71',
        nome: 'retention',
        certificate: {
          kind: 'device',
          serialNumber: 'ABCD00000071',
          subjectCn: mac,
          certificatePem: '-----BEGIN CERTIFICATE-----\n(test)\n-----END CERTIFICATE-----\n',
          keyOrigin: 'device',
          keyType: 'ec',
          issuedAt: '2026-01-01T00:00:00Z',
          expiresAt: '2036-01-01T00:00:00Z',
        },
      },
      audit('gateway.provision'),
    );
    const store = new MqttStore(new SqliteMqttRepository(repo.db));
    const writer = new TelemetryWriter({ sink: store, retentionDays: 30 });
    const now = Date.parse('2026-06-30T12:00:00Z');
    const row = (ageDays: number, valor: number) => {
      const at = new Date(now - ageDays * DAY).toISOString();
      return { mac, measuredAt: at, receivedAt: at, valor, unidade: 'C', firmwareVersion: null, slaveId: null, register: null };
    };
    for (const [age, valor] of [[45, 1], [31, 2], [29, 3], [1, 4]] as const) writer.add(row(age, valor));
    await writer.drain();
    expect(writer.stored).toBe(4);

    expect(await writer.prune(now)).toBe(2);
    const left = (await store.listTelemetry(gw.gateway.id, new Date(0), 100)).map((r) => r.valor);
    expect(left).toEqual([3, 4]);
    expect(await writer.prune(now)).toBe(0);
    await writer.stop();
  });
});
