/**
 * The issuance services, one module per concern over one core (`core.ts`): provisioning, the
 * pending-renewal state machine, revocation, CSV import, the certificate ZIP, service identities,
 * the reads, and zero-touch onboarding (birth identities, the device's bootstrap, the operator's
 * claim). This file only assembles them; a new concern is a new module over the same core, added to
 * the bundle here, without editing the others.
 */
import { BirthIdentityService } from './birth-identities.js';
import { BootstrapDeviceService } from './bootstrap-device.js';
import { CertificateExportService } from './certificate-export.js';
import { ClaimService } from './claims.js';
import { IssuanceCore, type IssuanceDeps } from './core.js';
import { CsvImportService } from './csv-import.js';
import { PendingRenewalService } from './pending-renewals.js';
import { ProvisioningService } from './provisioning.js';
import { GatewayQueries } from './queries.js';
import { RevocationService } from './revocation.js';
import { ServiceIdentityService } from './service-identities.js';

export interface IssuanceServices {
  core: IssuanceCore;
  provisioning: ProvisioningService;
  renewals: PendingRenewalService;
  revocation: RevocationService;
  imports: CsvImportService;
  exports: CertificateExportService;
  identities: ServiceIdentityService;
  queries: GatewayQueries;
  births: BirthIdentityService;
  bootstrap: BootstrapDeviceService;
  claims: ClaimService;
}

export function createIssuanceServices(deps: IssuanceDeps): IssuanceServices {
  const core = new IssuanceCore(deps);
  return {
    core,
    provisioning: new ProvisioningService(core),
    renewals: new PendingRenewalService(core),
    revocation: new RevocationService(core),
    imports: new CsvImportService(core),
    exports: new CertificateExportService(core),
    identities: new ServiceIdentityService(core),
    queries: new GatewayQueries(core),
    births: new BirthIdentityService(core),
    bootstrap: new BootstrapDeviceService(core),
    claims: new ClaimService(core),
  };
}

export type { Actor, IssuanceDeps, Permission, PermissionName } from './core.js';
export { IssuanceCore, PERMISSIONS } from './core.js';
export type { IssueOutcome } from './provisioning.js';
export { CANCEL_NOTE, type CancelOutcome, type ConfirmOutcome, type PendingRenewOutcome } from './pending-renewals.js';
export { ImportRejectedError, MAX_RSA_IMPORT_ROWS, type ImportOutcome } from './csv-import.js';
export { REVOCATION_REASONS } from './revocation.js';
