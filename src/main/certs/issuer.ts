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
  /**
   * Optional: a new certificate for an existing gateway from a CSR; the server revokes the previous
   * one as superseded in the same transaction, so the MAC is never without a valid certificate (and
   * the broker never has to shut its identity out meanwhile). Without it, jobs revoke, then provision.
   */
  renew?(gatewayId: number, csrPem: string, signal?: AbortSignal): Promise<ProvisionResponse>;
}
