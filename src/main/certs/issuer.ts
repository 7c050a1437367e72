import type { ProvisionRequest, ProvisionResponse } from '@tds/server/contract';

/** Why a call to the issuance server failed, in terms a job can act on. */
export type IssuerErrorKind = 'unreachable' | 'conflict' | 'rejected' | 'unauthorized';

export class IssuerError extends Error {
  constructor(
    readonly kind: IssuerErrorKind,
    message: string,
    readonly status?: number,
    readonly details?: Record<string, unknown>,
  ) {
    super(message);
    this.name = 'IssuerError';
  }
}

/** The active certificate of a MAC on the server. */
export interface ActiveCertificate {
  gatewayId: number;
  codigo?: string;
  serialNumber: string;
  expiresAt: string;
}

/** Who made the CSR's key, for the server's records. */
export type KeyOrigin = 'device' | 'station';

/** A certificate for an already provisioned gateway, made from a CSR. */
export interface RenewalRequest {
  csrPem: string;
  keyOrigin: KeyOrigin;
}

/** A pending successor: valid at once, active only after `confirmRenewal`, revoked by `cancelRenewal`. */
export interface PendingRenewal extends ProvisionResponse {
  /** The certificate that stays valid until this one is confirmed. */
  replacesSerialNumber: string;
}

/**
 * What a provisioning job needs from the issuance server. `ApiClientIssuer` implements it over the
 * server's HTTP client; tests may implement it directly. Methods throw IssuerError.
 */
export interface CertificateIssuer {
  readonly serverUrl: string;
  provision(request: ProvisionRequest, signal?: AbortSignal): Promise<ProvisionResponse>;
  /** The MAC's active (unrevoked, unexpired) certificate, if any. */
  activeCertificate(mac: string, signal?: AbortSignal): Promise<ActiveCertificate | undefined>;
  revoke(gatewayId: number, reason: string, signal?: AbortSignal): Promise<void>;
  /** New certificate now; the server revokes the previous one (superseded) in the same transaction. */
  renew(gatewayId: number, request: RenewalRequest, signal?: AbortSignal): Promise<ProvisionResponse>;
  /**
   * New certificate as the gateway's *pending* successor: the previous one stays valid until
   * `confirmRenewal` (then it is revoked, superseded) or `cancelRenewal` (the new one is revoked).
   * What re-provisioning uses, so a failed replacement leaves the old identity in force.
   */
  renewPending(gatewayId: number, request: RenewalRequest, signal?: AbortSignal): Promise<PendingRenewal>;
  /** The pending certificate was seen working. Idempotent. */
  confirmRenewal(gatewayId: number, serialNumber: string, signal?: AbortSignal): Promise<void>;
  /** Abandons the pending certificate (revoked); the active one stays. Idempotent. */
  cancelRenewal(gatewayId: number, serialNumber: string, signal?: AbortSignal): Promise<void>;
}
