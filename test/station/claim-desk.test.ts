import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiClient } from '@tds/server/client';
import { formatCode, labelQr } from '@tds/server/contract';
import { ClaimDesk } from '../../src/main/claims/claim-desk.js';
import { ClaimApproveInputSchema, ClaimDeviceSchema, ClaimRejectInputSchema, type ClaimDevice, type ClaimOutcome } from '../../src/shared/claims.js';
import { StationError } from '../../src/shared/ipc-errors.js';
import { ScriptedDevice } from '../../server/test/support/scripted-device.js';
import { startTestServer, type TestServer } from '../support/server.js';

/**
 * The station's claim desk (what the Claim screen and `tds-station claim` call) against a real server
 * with open enrolment on, devices played by the server tests' scripted device: previews say what the
 * server saw, approvals reach the device's poll, and every refusal comes back as a reason in words
 * (wrong code or secret with the tries left, the lockout with its duration, a used label, a QR of
 * another MAC, a request that changed since the preview).
 */
describe('claim desk (preview, approve, reject) against a real server', () => {
  let server: TestServer;
  let api: ApiClient;
  let desk: ClaimDesk;
  const devices: ScriptedDevice[] = [];
  const device = (d: ClaimDevice) => ClaimDeviceSchema.parse(d);
  const ok = <T>(o: ClaimOutcome<T>): T => {
    if (!o.ok) throw new Error(`refused: ${JSON.stringify(o.refusal)}`);
    return o.value;
  };
  const refused = <T>(o: ClaimOutcome<T>) => {
    if (o.ok) throw new Error(`expected a refusal, got ${JSON.stringify(o.value)}`);
    return o.refusal;
  };
  const scripted = async (mac: string): Promise<ScriptedDevice> => {
    const d = await ScriptedDevice.create(mac, { apiUrl: server.apiUrl, caPem: server.caPem });
    devices.push(d);
    return d;
  };

  beforeAll(async () => {
    server = await startTestServer({ mqttBroker: '127.0.0.1', mqttPort: 8883, extraServeArgs: ['--open-enrolment'] });
    api = server.client('operator');
    desk = new ClaimDesk(async () => api);
  }, 60_000);
  afterAll(async () => {
    for (const d of devices) d.close();
    api?.close();
    await server?.stop();
  });

  it('open path: the device QR or code + MAC previews what the server saw; approval reaches the device', async () => {
    const d = await scripted('02:c1:a0:00:00:01');
    const r = await d.bootstrapOpen({ model: 'ESP32 rev3', firmware_version: '1.4.0' });
    const preview = ok(await desk.preview(device({ by: 'qr', qr: r.qr_payload!.toLowerCase() })));
    expect(preview).toMatchObject({ bootstrapId: r.bootstrap_id, path: 'open', mac: '02:c1:a0:00:00:01', model: 'ESP32 rev3', firmwareVersion: '1.4.0', keyFingerprint: r.key_fingerprint, keyType: 'EC P-256', macAvailable: true, problem: null, sourceIp: '127.0.0.1' });
    // The same request by the code as typed (lower case, no dash) and the MAC from the housing.
    const byCode = device({ by: 'code', mac: '02-C1-A0-00-00-01', code: r.activation_code!.replace('-', '').toLowerCase() });
    expect(ok(await desk.preview(byCode)).bootstrapId).toBe(r.bootstrap_id);
    const approved = ok(await desk.approve(ClaimApproveInputSchema.parse({ device: byCode, bootstrapId: r.bootstrap_id, accountId: server.contaId, gatewayCode: 'GW-CLAIM-1', name: 'Gateway Norte' })));
    expect(approved).toMatchObject({ mac: '02:c1:a0:00:00:01', gatewayCode: 'GW-CLAIM-1', name: 'Gateway Norte', accountId: server.contaId });
    const poll = await d.poll();
    expect(poll.status).toBe('issued');
    expect(poll.status === 'issued' && poll.body.serial_number).toBe(approved.certificateSerial);
    // The code is used up: the same claim again is a wrong code (counted), not a second gateway.
    expect(refused(await desk.preview(byCode))).toMatchObject({ reason: 'wrong-code', attemptsLeft: 4 });
  });

  it('attested path: the label QR claims once; a second use, a QR for another MAC and a typed wrong secret are refused in words', async () => {
    const mac = '02:b1:a0:00:00:01';
    const birth = await ScriptedDevice.birthCsr(mac);
    const issued = await api.issueBirthIdentity({ mac_address: mac, csr_pem: birth.csrPem });
    const d = await scripted(mac);
    d.birth = { certificatePem: issued.birth_certificate_pem, key: birth.key };
    // Scanned before the device asked: it has not asked to join yet.
    const label = device({ by: 'qr', qr: issued.label_qr });
    expect(refused(await desk.preview(label))).toMatchObject({ reason: 'not-asked' });
    const r = await d.bootstrapAttested({ model: 'ESP32-D0WD-V3 rev3' });
    const preview = ok(await desk.preview(label));
    expect(preview).toMatchObject({ path: 'attested', mac, birthSerial: issued.serial_number, keyFingerprint: r.key_fingerprint });
    // A label of another device (its MAC with this secret) does not match: a wrong secret.
    const other = labelQr('02:b1:a0:00:00:02', issued.claim_secret);
    expect(refused(await desk.preview(device({ by: 'qr', qr: other })))).toMatchObject({ reason: 'wrong-secret' });
    ok(await desk.approve(ClaimApproveInputSchema.parse({ device: label, bootstrapId: preview.bootstrapId, accountId: server.contaId, gatewayCode: 'GW-CLAIM-2', name: 'Gateway Sul' })));
    expect((await d.poll()).status).toBe('issued');
    // Single use: the same label again.
    expect(refused(await desk.preview(label))).toMatchObject({ reason: 'label-used', message: expect.stringMatching(/already used/) });
    // Typed by hand with a wrong character mix: refused at the boundary, before the server counts it.
    expect(ClaimDeviceSchema.safeParse({ by: 'label', mac, claimSecret: 'not a secret' }).success).toBe(false);
  });

  it('an approval of a request other than the one previewed is refused; a reject names the request and frees nothing else', async () => {
    const d = await scripted('02:c1:a0:00:00:02');
    const first = await d.bootstrapOpen();
    const dev = device({ by: 'code', mac: d.mac, code: formatCode(first.activation_code!.replace('-', '')) });
    const wrongId = first.bootstrap_id.replace(/^./, (c) => (c === '0' ? '1' : '0'));
    const r = refused(await desk.approve(ClaimApproveInputSchema.parse({ device: dev, bootstrapId: wrongId, accountId: server.contaId, gatewayCode: 'GW-CLAIM-3', name: 'x' })));
    expect(r.reason).toBe('request-changed');
    // Another account than the token's: a field problem under "accountId".
    const err = await desk.approve(ClaimApproveInputSchema.parse({ device: dev, bootstrapId: first.bootstrap_id, accountId: server.contaId + 100, gatewayCode: 'GW-CLAIM-3', name: 'x' })).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StationError);
    expect((err as StationError).issues?.[0]?.field).toBe('accountId');
    const rejected = ok(await desk.reject(ClaimRejectInputSchema.parse({ device: dev, bootstrapId: first.bootstrap_id, reason: 'fingerprint differs' })));
    expect(rejected).toMatchObject({ bootstrapId: first.bootstrap_id, reason: expect.stringContaining('fingerprint differs') });
    expect(await d.poll()).toMatchObject({ status: 'gone', code: 'rejected' });
  });

  it('wrong codes count down and then lock this token out, with how long (Retry-After) — even for the right code', async () => {
    const d = await scripted('02:c1:a0:00:00:03');
    const r = await d.bootstrapOpen();
    // A fresh server-side count for this token: earlier tests used one wrong code each.
    const fresh = await server.createAccount('lockout');
    const client = new ApiClient({ baseUrl: server.apiUrl, caPem: server.caPem, token: fresh.tokens.operator });
    try {
      const lockDesk = new ClaimDesk(async () => client);
      const wrong = device({ by: 'code', mac: d.mac, code: r.activation_code === 'ZZZZ-ZZZZ' ? 'YYYY-YYYY' : 'ZZZZ-ZZZZ' });
      const left: number[] = [];
      for (let i = 0; i < 5; i++) {
        const x = refused(await lockDesk.preview(wrong));
        expect(x.reason).toBe('wrong-code');
        left.push(x.attemptsLeft!);
      }
      expect(left).toEqual([4, 3, 2, 1, 0]);
      const locked = refused(await lockDesk.preview(device({ by: 'code', mac: d.mac, code: r.activation_code! })));
      expect(locked.reason).toBe('locked-out');
      expect(locked.retryAfterSeconds).toBeGreaterThan(800);
      expect(locked.retryAfterSeconds).toBeLessThanOrEqual(900);
      // Another token (this station's usual one) is not locked out.
      expect(ok(await desk.preview(device({ by: 'code', mac: d.mac, code: r.activation_code! }))).bootstrapId).toBe(r.bootstrap_id);
    } finally {
      client.close();
    }
  });
});
