import type { BirthIdentityResponse, ProvisionRequest, ProvisionResponse } from '@tds/server/contract';
import { ApiClient, ApiError, ServerUnreachableError, type ApiClientOptions } from '@tds/server/client';
import type { BirthIssuer, BirthRequest, BootstrapTarget } from './birth-issuer.js';
import {
  IssuerError,
  type ActiveCertificate,
  type CertificateIssuer,
  type IssuerErrorKind,
  type KeyOrigin,
  type PendingRenewal,
  type RenewalRequest,
} from './issuer.js';

/**
 * The station's one issuer: every call a provisioning job makes to the issuance server (provision,
 * renew, the pending-renewal trio, look-ups), over the server's own HTTP client
 * (`@tds/server/client`), with server errors turned into `IssuerError`s. Used by the ESP32 and Pi
 * jobs, the station service and both CLIs.
 */
export class ApiClientIssuer implements CertificateIssuer, BirthIssuer {
  readonly serverUrl: string;

  /**
   * `defaultKeyOrigin` is recorded for provisioning requests that do not say who made the key
   * (the station, unless told otherwise); renewals always say it. `pinnedCaPem`: the CA the client
   * trusts for the server's HTTPS certificate, which bench-born devices pin too.
   */
  constructor(
    readonly client: ApiClient,
    private readonly defaultKeyOrigin: KeyOrigin = 'station',
    private readonly pinnedCaPem?: string,
  ) {
    this.serverUrl = client.apiUrl.replace(/\/api\/v1$/, '');
  }

  static fromOptions(options: ApiClientOptions, defaultKeyOrigin: KeyOrigin = 'station'): ApiClientIssuer {
    return new ApiClientIssuer(new ApiClient(options), defaultKeyOrigin, options.caPem);
  }

  issueBirth(r: BirthRequest, signal?: AbortSignal): Promise<BirthIdentityResponse> {
    return this.call(
      () => this.client.issueBirthIdentity({ mac_address: r.mac, csr_pem: r.csrPem, ...(r.model ? { model: r.model } : {}), ...(r.replace ? { replace: true } : {}) }),
      signal,
    );
  }

  async revokeBirth(mac: string, reason: string, signal?: AbortSignal): Promise<void> {
    await this.call(() => this.client.revokeBirthIdentity(mac, reason), signal);
  }

  /** The server's URL setting, else this station's URL; the pinned CA, else the server's own CA (its default HTTPS issuer). */
  async bootstrapTarget(serverUrl: string | undefined, signal?: AbortSignal): Promise<BootstrapTarget> {
    const caPem = this.pinnedCaPem ?? (await this.call(() => this.client.getCaPem(), signal));
    return { url: serverUrl ?? this.client.apiUrl, caPem };
  }

  provision(request: ProvisionRequest, signal?: AbortSignal): Promise<ProvisionResponse> {
    return this.call(() => this.client.provision({ key_origin: this.defaultKeyOrigin, ...request }), signal);
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

  renew(gatewayId: number, request: RenewalRequest, signal?: AbortSignal): Promise<ProvisionResponse> {
    return this.call(() => this.client.renew(gatewayId, { csr_pem: request.csrPem, key_origin: request.keyOrigin }), signal);
  }

  async renewPending(gatewayId: number, request: RenewalRequest, signal?: AbortSignal): Promise<PendingRenewal> {
    const { replaces_serial_number, status: _status, ...response } = await this.call(
      () => this.client.renewPending(gatewayId, { csr_pem: request.csrPem, key_origin: request.keyOrigin }),
      signal,
    );
    return { ...response, replacesSerialNumber: replaces_serial_number };
  }

  async confirmRenewal(gatewayId: number, serialNumber: string, signal?: AbortSignal): Promise<void> {
    await this.call(() => this.client.confirmRenewal(gatewayId, serialNumber), signal);
  }

  async cancelRenewal(gatewayId: number, serialNumber: string, signal?: AbortSignal): Promise<void> {
    await this.call(() => this.client.cancelRenewal(gatewayId, serialNumber), signal);
  }

  /** Closes the client's idle connections. */
  close(): void {
    this.client.close();
  }

  private async call<T>(fn: () => Promise<T>, signal?: AbortSignal): Promise<T> {
    if (signal?.aborted) throw abortError();
    try {
      return await fn();
    } catch (err) {
      throw toIssuerError(err);
    }
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
