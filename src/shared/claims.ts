import { normaliseClaimSecret, normaliseCode, parseClaimQr, parseMac } from '@tds/server/contract';
import { z } from 'zod';
import { GatewayCodeSchema } from './inputs.js';
import { V, zMac, zName } from './validation.js';

/**
 * The Claim screen's part of the contract (zero-touch onboarding, docs/zero-touch.md): how the
 * installer names the device (the label or device QR, the label typed by hand, or the code the device
 * shows plus the MAC on its housing), what the server saw of it, and the approval. Refusals the
 * installer must read about (a wrong code, a lockout, a used label) are answers, not errors, so the
 * screen and `tds-station claim` can say them in words.
 */

const zQr = z
  .string()
  .trim()
  .min(1, V.required)
  .max(120, V.claimQr)
  .refine((s) => parseClaimQr(s).ok, V.claimQr);
const zActivationCode = z
  .string()
  .trim()
  .min(1, V.required)
  .max(32, V.activationCode)
  .refine((s) => normaliseCode(s).ok, V.activationCode);
const zClaimSecret = z
  .string()
  .trim()
  .min(1, V.required)
  .max(104, V.claimSecret)
  .refine((s) => normaliseClaimSecret(s).ok, V.claimSecret);

/** One way to name the device; `by` says which. */
export const ClaimDeviceSchema = z.discriminatedUnion(
  'by',
  [
    z.object({ by: z.literal('qr'), qr: zQr }),
    z.object({ by: z.literal('label'), mac: zMac, claimSecret: zClaimSecret }),
    z.object({ by: z.literal('code'), mac: zMac, code: zActivationCode }),
  ],
  { error: V.choice },
);
export type ClaimDevice = z.input<typeof ClaimDeviceSchema>;

/** The request id the installer previewed: an approval or rejection of anything else is refused. */
const zBootstrapId = z.string().regex(/^[0-9a-f]{32}$/, V.required);

export const ClaimPreviewInputSchema = z.object({ device: ClaimDeviceSchema });

export const ClaimApproveInputSchema = z.object({
  device: ClaimDeviceSchema,
  bootstrapId: zBootstrapId,
  accountId: z.number({ error: V.positiveInt }).int(V.positiveInt).positive(V.positiveInt),
  gatewayCode: GatewayCodeSchema,
  name: zName(100),
});
export type ClaimApproveInput = z.input<typeof ClaimApproveInputSchema>;

export const ClaimRejectInputSchema = z.object({
  device: ClaimDeviceSchema,
  bootstrapId: zBootstrapId,
  reason: z.string().trim().max(200, V.tooLong).optional(),
});

/** What the server saw of the device that asked to join. */
export interface ClaimPreviewView {
  bootstrapId: string;
  /** `attested`: a bench-born device (birth identity, label QR); `open`: a code the device shows. */
  path: 'attested' | 'open';
  mac: string;
  model: string | null;
  firmwareVersion: string | null;
  /** Lowercase hex SHA-256 of the request key; the device shows the same. */
  keyFingerprint: string;
  keyType: string;
  requestedAt: string;
  sourceIp: string | null;
  expiresAt: string;
  birthSerial: string | null;
  /** Whether this account may claim the MAC now (one account per MAC); `problem` says why not. */
  macAvailable: boolean;
  problem: string | null;
}

export interface ClaimApprovedView {
  bootstrapId: string;
  gatewayId: number;
  mac: string;
  accountId: number;
  gatewayCode: string;
  name: string;
  certificateSerial: string;
  expiresAt: string;
}

export const CLAIM_REFUSALS = [
  /** The claim secret (label) does not match this MAC: counted toward the lockout. */
  'wrong-secret',
  /** No pending request of this MAC has this code: counted toward the lockout. */
  'wrong-code',
  /** Too many wrong codes or secrets from this station's token. */
  'locked-out',
  /** The label was already used for a claim (single use). */
  'label-used',
  /** The device has not asked to join yet (or its request expired). */
  'not-asked',
  /** The device's request changed since the preview: preview again. */
  'request-changed',
  /** Another account holds this MAC, or this account has an active gateway for it. */
  'mac-unavailable',
  /** Any other refusal; `message` says it. */
  'refused',
] as const;
export type ClaimRefusalReason = (typeof CLAIM_REFUSALS)[number];

export interface ClaimRefusal {
  reason: ClaimRefusalReason;
  /** The server's words (English). */
  message: string;
  /** Tries left before the lockout (wrong codes and secrets). */
  attemptsLeft?: number;
  /** How long the lockout lasts. */
  retryAfterSeconds?: number;
}

export type ClaimOutcome<T> = { ok: true; value: T } | { ok: false; refusal: ClaimRefusal };

/** Groups of four for people comparing fingerprints: `3f2a 9c01 77be 12d4` (the first 16 characters). */
export function shortFingerprint(hex: string): string {
  return hex.slice(0, 16).replace(/(.{4})(?=.)/g, '$1 ');
}

/** The MAC a way of naming the device names (canonical when it parses; '' for a QR that does not). */
export function claimMac(device: ClaimDevice): string {
  if (device.by === 'qr') {
    const q = parseClaimQr(device.qr);
    return q.ok ? q.mac : '';
  }
  const m = parseMac(device.mac);
  return m.ok ? m.mac : device.mac;
}
