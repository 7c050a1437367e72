import type { BirthIdentityResponse } from '@tds/server/contract';

/** What the bench asks for a board that gets a birth identity instead of its final one. */
export interface BirthRequest {
  mac: string;
  /** CSR of the birth key (CN = the MAC). */
  csrPem: string;
  model?: string;
  /** Revoke the MAC's unrevoked birth identity (superseded) and issue a new one. */
  replace?: boolean;
}

/** Where a bench-born device asks to join in the field: the server's API URL and the CA it pins for HTTPS. */
export interface BootstrapTarget {
  url: string;
  caPem: string;
}

/**
 * The bench's part of zero-touch onboarding on the issuance server (docs/zero-touch.md §3.7, §3.8).
 * `ApiClientIssuer` implements it; methods throw IssuerError like the rest of the issuer.
 */
export interface BirthIssuer {
  /** A birth certificate for the CSR's key and a claim secret (shown only in this answer). */
  issueBirth(request: BirthRequest, signal?: AbortSignal): Promise<BirthIdentityResponse>;
  revokeBirth(mac: string, reason: string, signal?: AbortSignal): Promise<void>;
  /** `serverUrl`: the server's own setting from the birth answer, when it has one. */
  bootstrapTarget(serverUrl: string | undefined, signal?: AbortSignal): Promise<BootstrapTarget>;
}

/**
 * What a bench-born board's label carries. `labelQr` holds the claim secret, which the server shows
 * only once: it lives in the station core's memory until the label is printed, never on disk.
 */
export interface ClaimLabel {
  mac: string;
  labelQr: string;
  claimSecret: string;
  birthSerial: string;
  expiresAt: string;
}
