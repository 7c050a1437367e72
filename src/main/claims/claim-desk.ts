import { ApiError, type ApiClient } from '@tds/server/client';
import type { ClaimCredentials, ClaimPreviewResponse } from '@tds/server/contract';
import type { z } from 'zod';
import type {
  ClaimApprovedView,
  ClaimApproveInputSchema,
  ClaimDeviceSchema,
  ClaimOutcome,
  ClaimPreviewView,
  ClaimRefusal,
  ClaimRejectInputSchema,
} from '../../shared/claims.js';
import { StationError } from '../../shared/ipc-errors.js';
import { toStationError } from '../station/server-link.js';

/**
 * The station's side of claiming a device that asked to join (zero-touch onboarding): preview,
 * approve, reject, over the server's API client. One implementation for the Claim screen and
 * `tds-station claim`. What the installer holds (a claim secret, an activation code) goes to the
 * server and nowhere else: never into a log line, a job or a file.
 */

type Device = z.output<typeof ClaimDeviceSchema>;
type Approve = z.output<typeof ClaimApproveInputSchema>;
type Reject = z.output<typeof ClaimRejectInputSchema>;

/** The device as the server's API names it. */
export function credentialsOf(device: Device): ClaimCredentials {
  switch (device.by) {
    case 'qr':
      return { qr: device.qr };
    case 'label':
      return { mac_address: device.mac, claim_secret: device.claimSecret };
    case 'code':
      return { mac_address: device.mac, activation_code: device.code };
  }
}

export function previewView(p: ClaimPreviewResponse): ClaimPreviewView {
  return {
    bootstrapId: p.bootstrap_id,
    path: p.path,
    mac: p.mac_address,
    model: p.model,
    firmwareVersion: p.firmware_version,
    keyFingerprint: p.key_fingerprint,
    keyType: p.key_type,
    requestedAt: p.requested_at,
    sourceIp: p.source_ip,
    expiresAt: p.expires_at,
    birthSerial: p.birth_serial_number,
    macAvailable: p.mac_available,
    problem: p.problem,
  };
}

/** Server field names → the fields of this contract's requests (so a problem lands under its field). */
const FIELDS: Record<string, string> = {
  qr: 'device.qr',
  mac_address: 'device.mac',
  claim_secret: 'device.claimSecret',
  activation_code: 'device.code',
  codigo: 'gatewayCode',
  nome: 'name',
  conta_id: 'accountId',
  reason: 'reason',
  bootstrap_id: 'bootstrapId',
};

/** A refusal the installer must read about, or undefined for errors of another kind. */
export function refusalOf(err: unknown): ClaimRefusal | undefined {
  if (!(err instanceof ApiError)) return undefined;
  const details = err.details as { attempts_left?: unknown; field?: unknown } | undefined;
  const message = err.error;
  if (err.status === 429) return { reason: 'locked-out', message, ...(err.retryAfterSeconds !== undefined ? { retryAfterSeconds: err.retryAfterSeconds } : {}) };
  if (err.status === 404 && typeof details?.attempts_left === 'number') {
    return { reason: details.field === 'activation_code' ? 'wrong-code' : 'wrong-secret', message, attemptsLeft: details.attempts_left };
  }
  if (err.status === 404) return { reason: 'not-asked', message };
  if (err.status === 409) {
    if (details?.field === 'mac_address') return { reason: 'mac-unavailable', message };
    // The server's 409s carry no code; its wording is part of its contract (docs/zero-touch.md §4).
    if (/already used/i.test(message)) return { reason: 'label-used', message };
    if (/preview it again/i.test(message)) return { reason: 'request-changed', message };
    return { reason: 'refused', message };
  }
  return undefined;
}

/** Input problems under this contract's field names; everything else as the station's usual errors. */
function asStationError(err: unknown): unknown {
  if (err instanceof ApiError && (err.status === 400 || (err.status === 403 && err.field === 'conta_id'))) {
    const field = FIELDS[err.field ?? ''] ?? err.field ?? '';
    return new StationError('INVALID_INPUT', err.error, { issues: [{ field, key: err.error, message: err.error }] });
  }
  return toStationError(err);
}

async function attempt<T>(run: () => Promise<T>): Promise<ClaimOutcome<T>> {
  try {
    return { ok: true, value: await run() };
  } catch (err) {
    const refusal = refusalOf(err);
    if (refusal) return { ok: false, refusal };
    throw asStationError(err);
  }
}

export class ClaimDesk {
  constructor(private readonly client: () => Promise<ApiClient>) {}

  async preview(device: Device): Promise<ClaimOutcome<ClaimPreviewView>> {
    const api = await this.client();
    return attempt(async () => previewView(await api.claimPreview(credentialsOf(device))));
  }

  async approve(r: Approve): Promise<ClaimOutcome<ClaimApprovedView>> {
    const api = await this.client();
    return attempt(async () => {
      const a = await api.claim({ ...credentialsOf(r.device), conta_id: r.accountId, codigo: r.gatewayCode, nome: r.name, bootstrap_id: r.bootstrapId });
      return {
        bootstrapId: a.bootstrap_id,
        gatewayId: a.gateway_id,
        mac: a.mac_address,
        accountId: a.conta_id,
        gatewayCode: a.codigo,
        name: a.nome,
        certificateSerial: a.serial_number,
        expiresAt: a.expires_at,
      };
    });
  }

  async reject(r: Reject): Promise<ClaimOutcome<{ bootstrapId: string; reason: string }>> {
    const api = await this.client();
    return attempt(async () => {
      const x = await api.claimReject({ ...credentialsOf(r.device), bootstrap_id: r.bootstrapId, ...(r.reason ? { reason: r.reason } : {}) });
      return { bootstrapId: x.bootstrap_id, reason: x.reason };
    });
  }
}
