/**
 * Certificate renewal over MQTT (docs/broker.md), the wire side:
 *   server → `commands` {cmd:'cert_renew', id}          (optional: ask the device to start)
 *   device → `cert/csr` {id, csr_pem}                    → verify, sign
 *   server → `commands` {cmd:'cert_update', id, certificate_pem, ca_pem, serial_number}
 *   device → `cert/ack` {id, serial_number}             (after reconnecting with the new certificate)
 *   server: revoke the old certificate(s), reason superseded.
 * Lost messages are harmless: until the ack the old certificate stays valid, a repeated CSR with the
 * same id gets the same certificate again (no second issuance), a repeated ack is a no-op.
 * The topic's MAC is authenticated by the broker (ACL = certificate CN); the payload is validated here.
 */
import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import { topics, type DeviceCommand } from '../contract/index.js';

const requestId = z.string().regex(/^[A-Za-z0-9_.:-]{1,64}$/, 'id must be 1-64 characters [A-Za-z0-9_.:-]');
export const certCsrSchema = z.object({ id: requestId, csr_pem: z.string().min(100).max(16_384) });
export const certAckSchema = z.object({ id: requestId, serial_number: z.string().regex(/^[0-9a-fA-F:]{1,128}$/) });

export class RenewalRefused extends Error {}

export interface RenewalIssued {
  certificatePem: string;
  serialNumber: string;
  caPem: string;
  /** True when this CSR was already signed for this id (nothing new was issued). */
  repeated: boolean;
}

/** CA + store operations behind the protocol (implemented over the server's store). */
export interface RenewalBackend {
  /** Verifies and signs; idempotent per (mac, id). Throws RenewalRefused with the reason. */
  issueRenewal(mac: string, id: string, csrPem: string): Promise<RenewalIssued>;
  /** The device uses `serialNumber`: revoke every other certificate of this MAC (superseded). */
  confirmRenewal(mac: string, id: string, serialNumber: string): Promise<'completed' | 'already-completed'>;
}

export interface RenewalEvents {
  onIssued?(mac: string, id: string, issued: RenewalIssued): void;
  onCompleted?(mac: string, id: string, serial: string, result: 'completed' | 'already-completed'): void;
  onRefused?(mac: string, stage: 'csr' | 'ack', reason: string): void;
}

export interface RenewalProtocolOptions extends RenewalEvents {
  backend: RenewalBackend;
  publish(topic: string, payload: string): Promise<void>;
  log?: (line: string) => void;
}

export class RenewalProtocol {
  /** Per-device queue: duplicates of one request are handled one after the other. */
  private readonly queues = new Map<string, Promise<void>>();

  constructor(private readonly opts: RenewalProtocolOptions) {}

  private serial(mac: string, job: () => Promise<void>): Promise<void> {
    const prev = this.queues.get(mac) ?? Promise.resolve();
    const next = prev.then(job, job).finally(() => {
      if (this.queues.get(mac) === next) this.queues.delete(mac);
    });
    this.queues.set(mac, next);
    return next;
  }

  private refuse(mac: string, stage: 'csr' | 'ack', reason: string): void {
    this.opts.log?.(`[renewal] ${mac}: ${stage} refused: ${reason}`);
    this.opts.onRefused?.(mac, stage, reason);
  }

  /** Asks the device to start a renewal; returns the command id (given, or a new UUID). */
  async ask(mac: string, id: string = randomUUID()): Promise<string> {
    const cmd: DeviceCommand = { cmd: 'cert_renew', id };
    await this.opts.publish(topics.commands(mac), JSON.stringify(cmd));
    return id;
  }

  onCsr(mac: string, payload: Buffer): Promise<void> {
    return this.serial(mac, async () => {
      const parsed = parseJson(payload, certCsrSchema);
      if (!parsed.ok) return this.refuse(mac, 'csr', parsed.error);
      let issued: RenewalIssued;
      try {
        issued = await this.opts.backend.issueRenewal(mac, parsed.value.id, parsed.value.csr_pem);
      } catch (err) {
        if (err instanceof RenewalRefused) return this.refuse(mac, 'csr', err.message);
        throw err;
      }
      const cmd: DeviceCommand = {
        cmd: 'cert_update',
        id: parsed.value.id,
        certificate_pem: issued.certificatePem,
        ca_pem: issued.caPem,
        serial_number: issued.serialNumber,
      };
      await this.opts.publish(topics.commands(mac), JSON.stringify(cmd));
      this.opts.log?.(`[renewal] ${mac}: ${issued.repeated ? 're-sent' : 'issued'} certificate ${issued.serialNumber} (request ${parsed.value.id})`);
      this.opts.onIssued?.(mac, parsed.value.id, issued);
    });
  }

  onAck(mac: string, payload: Buffer): Promise<void> {
    return this.serial(mac, async () => {
      const parsed = parseJson(payload, certAckSchema);
      if (!parsed.ok) return this.refuse(mac, 'ack', parsed.error);
      const serial = parsed.value.serial_number.replace(/:/g, '').toLowerCase();
      try {
        const result = await this.opts.backend.confirmRenewal(mac, parsed.value.id, serial);
        this.opts.log?.(`[renewal] ${mac}: ${result === 'completed' ? 'completed, old certificate revoked' : 'ack repeated'} (${serial})`);
        this.opts.onCompleted?.(mac, parsed.value.id, serial, result);
      } catch (err) {
        if (err instanceof RenewalRefused) return this.refuse(mac, 'ack', err.message);
        throw err;
      }
    });
  }
}

function parseJson<T>(payload: Buffer, schema: z.ZodType<T>): { ok: true; value: T } | { ok: false; error: string } {
  let json: unknown;
  try {
    json = JSON.parse(payload.toString('utf8'));
  } catch {
    return { ok: false, error: 'payload is not JSON' };
  }
  const r = schema.safeParse(json);
  if (!r.success) return { ok: false, error: r.error.issues.map((i) => `${i.path.join('.') || 'payload'}: ${i.message}`).join('; ') };
  return { ok: true, value: r.data };
}
