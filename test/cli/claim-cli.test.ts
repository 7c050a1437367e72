import { writeFileSync } from 'node:fs';
import path from 'node:path';
import mqtt, { type MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { topics, type BootstrapIssuedResponse } from '@tds/server/contract';
import { shortFingerprint } from '../../src/shared/claims.js';
import { ScriptedDevice } from '../../server/test/support/scripted-device.js';
import { run } from '../../server/test/support/run.js';
import { startBackend, type Backend } from '../support/backend.js';
import { tempDir } from '../support/temp.js';

const CLI = path.resolve(import.meta.dirname, '../../dist/station/main/cli/index.js');

// `tds-station claim` (compiled) against a real server with open enrolment and its embedded broker:
// the preview on stderr, the approval, and the wait until the station's monitor identity sees the
// device online (the device played by the server tests' scripted device, which then connects over
// mTLS); refusals in words with their exit codes; confirmation required without a terminal; reject.
describe('tds-station claim (compiled CLI, real server + embedded broker)', () => {
  let backend: Backend;
  const tmp = tempDir('tds-claim-cli-');
  const profile = path.join(tmp.path, 'profile.json');
  const devices: ScriptedDevice[] = [];
  const clients: MqttClient[] = [];
  const cli = (args: string[]) => run(process.execPath, [CLI, 'claim', '--profile', profile, ...args], { env: { TDS_TOKEN: backend.server.tokens.operator }, timeoutMs: 60_000 });
  const device = async (mac: string): Promise<ScriptedDevice> => {
    const d = await ScriptedDevice.create(mac, { apiUrl: backend.server.apiUrl, caPem: backend.server.caPem });
    devices.push(d);
    return d;
  };
  /** The device: poll until issued, then go online on the broker as a gateway does. */
  const fetchAndConnect = async (d: ScriptedDevice): Promise<BootstrapIssuedResponse> => {
    for (let i = 0; i < 60; i++) {
      const p = await d.poll();
      if (p.status === 'issued') {
        const c = mqtt.connect({ protocol: 'mqtts', host: backend.broker.host, port: p.body.mqtt_port, clientId: d.mac, ca: p.body.ca_pem, cert: p.body.certificate_pem, key: d.key.export({ type: 'pkcs8', format: 'pem' }).toString() });
        clients.push(c);
        c.on('connect', () => c.publish(topics.status(d.mac), 'online', { retain: true, qos: 1 }));
        return p.body;
      }
      if (p.status === 'gone') throw new Error(p.error);
      await new Promise((r) => setTimeout(r, 1100));
    }
    throw new Error('never issued');
  };

  /** One poll the server answers (a poll sooner than its interval is told to slow down: wait and ask again). */
  const answer = async (d: ScriptedDevice) => {
    for (;;) {
      const p = await d.poll();
      if (p.status !== 'slow_down') return p;
      await new Promise((r) => setTimeout(r, p.retryAfterSeconds * 1000));
    }
  };

  beforeAll(async () => {
    backend = await startBackend({ broker: 'embedded', monitorName: 'claim-cli', server: { extraServeArgs: ['--open-enrolment'] } });
    const files = { certFile: path.join(tmp.path, 'monitor.crt'), keyFile: path.join(tmp.path, 'monitor.key'), caFile: path.join(tmp.path, 'ca.crt') };
    writeFileSync(files.certFile, backend.monitor.certPem);
    writeFileSync(files.keyFile, backend.monitor.keyPem, { mode: 0o600 });
    writeFileSync(files.caFile, backend.monitor.caPem);
    writeFileSync(
      profile,
      JSON.stringify({
        name: 'field',
        operator: 'ivo',
        server: { url: backend.server.url, token: { env: 'TDS_TOKEN' }, caPem: backend.server.caPem },
        accountId: backend.server.contaId,
        codeTemplate: 'GW-{mac12}',
        brokerHost: backend.broker.host,
        brokerPort: backend.broker.port,
        monitor: files,
      }),
    );
  }, 120_000);

  afterAll(async () => {
    for (const c of clients) c.end(true);
    for (const d of devices) d.close();
    await backend?.stop();
    tmp.remove();
  });

  it('previews, approves with the profile\'s templates, and waits until the monitor sees the device online', async () => {
    const d = await device('02:c1:c1:00:00:01');
    const r = await d.bootstrapOpen({ model: 'Raspberry Pi 4 Model B Rev 1.5' });
    const [result] = await Promise.all([cli(['--code', r.activation_code!, '--mac', '02-C1-C1-00-00-01', '--nome', 'Gateway Leste', '--yes', '--wait-online', '40']), fetchAndConnect(d)]);
    expect(result.code, result.output).toBe(0);
    expect(result.output).toContain('Device asking to join:');
    expect(result.output).toContain(`fingerprint ${shortFingerprint(r.key_fingerprint)}`);
    expect(result.output).toContain('Raspberry Pi 4 Model B Rev 1.5');
    expect(result.output).toMatch(/the broker sees 02:c1:c1:00:00:01 online/);
    const summary = JSON.parse(result.stdout) as { result: string; approved: { gatewayCode: string; name: string; accountId: number }; online: boolean };
    expect(summary).toMatchObject({ result: 'approved', online: true, approved: { gatewayCode: 'GW-02c1c1000001', name: 'Gateway Leste', accountId: backend.server.contaId } });
  }, 90_000);

  it('without --yes and without a terminal it asks for --yes and changes nothing; --reject rejects', async () => {
    const d = await device('02:c1:c1:00:00:02');
    const r = await d.bootstrapOpen();
    const asked = await cli(['--qr', r.qr_payload!]);
    expect(asked.code).toBe(2);
    expect(asked.output).toMatch(/confirmation needed and there is no terminal to ask on/);
    expect((await answer(d)).status).toBe('pending');
    const rejected = await cli(['--qr', r.qr_payload!, '--reject', '--reason', 'not ours', '--yes', '--json']);
    expect(rejected.code, rejected.output).toBe(0);
    expect(JSON.parse(rejected.stdout)).toMatchObject({ result: 'rejected', rejected: { bootstrapId: r.bootstrap_id, reason: expect.stringContaining('not ours') } });
    expect(await answer(d)).toMatchObject({ status: 'gone', code: 'rejected' });
  }, 60_000);

  it('refusals in words: a wrong code with the tries left, a reused label, bad input (exit 2)', async () => {
    const d = await device('02:c1:c1:00:00:03');
    await d.bootstrapOpen();
    const wrong = await cli(['--code', 'ZZZZ-ZZZY', '--mac', d.mac, '--yes', '--wait-online', '0']);
    expect(wrong.code).toBe(1);
    expect(wrong.output).toMatch(/not claimed: no request of 02:c1:c1:00:00:03 has this code: .*\(4 tries left before this token is locked out/);
    expect(JSON.parse(wrong.stdout)).toMatchObject({ result: 'refused', refusal: { reason: 'wrong-code', attemptsLeft: 4 } });

    const born = await device('02:b1:c1:00:00:01');
    const birth = await ScriptedDevice.birthCsr(born.mac);
    const issued = await backend.server.client('operator').issueBirthIdentity({ mac_address: born.mac, csr_pem: birth.csrPem });
    born.birth = { certificatePem: issued.birth_certificate_pem, key: birth.key };
    await born.bootstrapAttested();
    const first = await cli(['--qr', issued.label_qr, '--yes', '--wait-online', '0']);
    expect(first.code, first.output).toBe(0);
    expect(first.output).toMatch(/bench-born, proved its birth identity \(birth certificate [0-9A-F]+\)/);
    const again = await cli(['--qr', issued.label_qr, '--yes', '--wait-online', '0']);
    expect(again.code).toBe(1);
    expect(again.output).toMatch(/this label was already used to claim the device/);

    const bad = await cli(['--code', 'K7M2-Q4TU', '--mac', d.mac, '--yes']);
    expect(bad.code).toBe(2);
    expect(bad.output).toMatch(/--code: An activation code has 8 characters/);
    const none = await cli(['--mac', d.mac]);
    expect(none.code).toBe(2);
    expect(none.output).toMatch(/name the device one way/);
  }, 60_000);
});
