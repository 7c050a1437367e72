import type { ProvisionRequest, ProvisionResponse } from '@tds/server/contract';
import { ApiClient, ApiError, ServerUnreachableError } from '@tds/server/client';
import { IssuerError, type ActiveCertificate, type CertificateIssuer, type IssuerErrorKind } from './issuer.js';

/** CertificateIssuer over the server's HTTP client (`@tds/server/client`). */
export class ApiClientIssuer implements CertificateIssuer {
  readonly serverUrl: string;

  constructor(protected readonly client: ApiClient) {
    this.serverUrl = client.apiUrl.replace(/\/api\/v1$/, '');
  }

  static fromOptions(options: { baseUrl: string; token: string; caPem?: string; timeoutMs?: number }): ApiClientIssuer {
    return new ApiClientIssuer(new ApiClient(options));
  }

  async provision(request: ProvisionRequest, signal?: AbortSignal): Promise<ProvisionResponse> {
    // Keys this station makes are recorded as such on the server.
    return this.call(() => this.client.provision({ key_origin: 'station', ...request }), signal);
  }

  async activeCertificate(mac: string, signal?: AbortSignal): Promise<ActiveCertificate | undefined> {
    const page = await this.call(() => this.client.listGateways({ mac }), signal);
    const gw = page.results.find((g) => g.mac === mac && g.active_certificate && !g.active_certificate.is_revoked);
    if (!gw?.active_certificate) return undefined;
    return {
      gatewayId: gw.id,
      codigo: gw.codigo,
      serialNumber: gw.active_certificate.serial_number,
      expiresAt: gw.active_certificate.expires_at,
    };
  }

  async revoke(gatewayId: number, reason: string, signal?: AbortSignal): Promise<void> {
    await this.call(() => this.client.revoke(gatewayId, reason), signal);
  }

  close(): void {
    this.client.close();
  }

  protected async call<T>(fn: () => Promise<T>, signal?: AbortSignal): Promise<T> {
    if (signal?.aborted) throw abortError();
    try {
      return await fn();
    } catch (err) {
      throw toIssuerError(err);
    }
  }
}

/**
 * ApiClientIssuer plus `renew` (re-provisioning replaces the certificate in one server transaction).
 * What the CLI and the bench use; `keyOrigin` says who made the CSR's key, for the server's records.
 */
export class RenewingApiClientIssuer extends ApiClientIssuer implements CertificateIssuer {
  constructor(
    client: ApiClient,
    private readonly keyOrigin: 'device' | 'station' = 'station',
  ) {
    super(client);
  }

  static override fromOptions(options: { baseUrl: string; token: string; caPem?: string; timeoutMs?: number }): RenewingApiClientIssuer {
    return new RenewingApiClientIssuer(new ApiClient(options));
  }

  async renew(gatewayId: number, csrPem: string, signal?: AbortSignal): Promise<ProvisionResponse> {
    return this.call(() => this.client.renew(gatewayId, { csr_pem: csrPem, key_origin: this.keyOrigin }), signal);
  }
}

function toIssuerError(err: unknown): unknown {
  if (err instanceof ServerUnreachableError) return new IssuerError('unreachable', err.message);
  if (err instanceof ApiError) {
    const kind: IssuerErrorKind = err.status === 409 ? 'conflict' : err.status === 401 || err.status === 403 ? 'unauthorized' : 'rejected';
    const details = err.details ? { ...err.details } : undefined;
    return new IssuerError(kind, err.error, err.status, details);
  }
  return err;
}

function abortError(): Error {
  const e = new Error('cancelled');
  e.name = 'AbortError';
  return e;
}
