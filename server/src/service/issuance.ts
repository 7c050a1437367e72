/**
 * The issuance services, one module per concern over one core (`core.ts`): provisioning, the
 * pending-renewal state machine, revocation, CSV import, the certificate ZIP, service identities,
 * the reads, and zero-touch onboarding (birth identities, the device's bootstrap, the operator's
 * claim). This file only assembles them; a new concern is a new module over the same core, added to
 * the bundle here, without editing the others.
 */
import { AdminService } from './admin.js';
import { BirthIdentityService } from './birth-identities.js';
import { BootstrapDeviceService } from './bootstrap-device.js';
import { CertificateExportService } from './certificate-export.js';
import { ClaimService } from './claims.js';
import { IssuanceCore, type IssuanceDeps } from './core.js';
import { CsvImportService } from './csv-import.js';
import { PendingRenewalService } from './pending-renewals.js';
import { ProvisioningService } from './provisioning.js';
import { GatewayQueries } from './queries.js';
import { RenewalDeliveryService } from './renewal-delivery.js';
import { RevocationService } from './revocation.js';
import { ScheduledJobs } from './scheduled-jobs.js';
import { ServiceIdentityService } from './service-identities.js';

export interface IssuanceServices {
  core: IssuanceCore;
  provisioning: ProvisioningService;
  renewals: PendingRenewalService;
  /** Pending successors delivered to the device over MQTT. */
  deliveries: RenewalDeliveryService;
  /** The renewal sweep and the CRL re-sign, recorded and audited per run. */
  jobs: ScheduledJobs;
  revocation: RevocationService;
  imports: CsvImportService;
  exports: CertificateExportService;
  identities: ServiceIdentityService;
  queries: GatewayQueries;
  /** The admin console: audit with filters, accounts, tokens, CRL state, presence history. */
  admin: AdminService;
  births: BirthIdentityService;
  bootstrap: BootstrapDeviceService;
  claims: ClaimService;
}

export function createIssuanceServices(deps: IssuanceDeps): IssuanceServices {
  const core = new IssuanceCore(deps);
  const renewals = new PendingRenewalService(core);
  const deliveries = new RenewalDeliveryService(core);
  return {
    core,
    provisioning: new ProvisioningService(core),
    renewals,
    deliveries,
    jobs: new ScheduledJobs(core, renewals, deliveries),
    revocation: new RevocationService(core),
    imports: new CsvImportService(core),
    exports: new CertificateExportService(core),
    identities: new ServiceIdentityService(core),
    queries: new GatewayQueries(core),
    admin: new AdminService(core),
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
export { DELIVERY_CANCEL_NOTE, deliveryCommandId, type DeliveryAttempt, type RenewalSender } from './renewal-delivery.js';
