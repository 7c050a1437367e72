/**
 * @tds/server public API. The desktop app runs the server in-process through `startServer()`;
 * other parts of the server (broker kit, presence) hook into `RunningServer.events`.
 */
export * from './contract/index.js';
export { startServer, isLoopback, type StartServerOptions, type RunningServer } from './api/start.js';
export { initServerData, type InitOptions, type InitResult } from './config/init.js';
export { dataPath, loadSettings, saveSettings, defaultSettings, DATA_FILES, type Settings } from './config/data-dir.js';
export {
  CertificateAuthority,
  IdentityError,
  CaImportError,
  DEFAULT_CA_SUBJECT,
  type DeviceProfileSettings,
  type IssuedCertificate,
  type CrlEntry,
  type RevocationReasonName,
} from './ca/authority.js';
export { CsrError, parseCsr, type ParsedCsr } from './ca/csr.js';
export { createDeviceCsr } from './ca/csr-request.js';
export { generateKey, privateKeyPem, type KeyType } from './ca/keys.js';
export { loadCa, saveCa, readCaCertificate, MIN_PASSPHRASE_LENGTH, type CaRole } from './ca/key-store.js';
export { openCa, hasCa, caKeyBackend, PKCS11_PIN_ENV, type CaUnlock, type CaKeyBackend } from './ca/ca-backend.js';
export type { CaSigner } from './ca/signer.js';
export { parsePkcs11Uri, formatPkcs11Uri, Pkcs11UriError, type Pkcs11Uri } from './ca/pkcs11/uri.js';
export { TokenError, TokenUnavailableError } from './ca/pkcs11/errors.js';
export { createBirthCa, loadOrCreateBirthCa, hasBirthCa, DEFAULT_BIRTH_CA_SUBJECT } from './config/birth-ca.js';
export { WrongPassphraseError } from './ca/key-envelope.js';
export {
  ServerEvents,
  type ServerEventMap,
  type ServerEventName,
  type CertificateIssuedEvent,
  type CertificateRevokedEvent,
  type CrlUpdatedEvent,
} from './service/events.js';
export { createIssuanceServices, IssuanceCore, REVOCATION_REASONS, type Actor, type IssuanceServices } from './service/issuance.js';
export { CrlPublisher, validateCrl } from './service/crl-publisher.js';
export { createApiToken, hashToken } from './service/tokens.js';
export * from './store/index.js';
export { ApiClient, ApiError, ServerUnreachableError, type ApiClientOptions, type BootstrapPollResult } from './client/index.js';
export { writeFileAtomic } from './util/atomic-file.js';
export { stderrLogger, silentLogger, type Logger } from './util/logger.js';
export { SERVER_VERSION } from './version.js';
export { buildCertificateZip, type BundleInput } from './service/cert-bundle.js';
export { createBackup, checkBackup, restoreBackup, BackupRefused, MIN_BACKUP_PASSPHRASE_LENGTH, type BackupSummary } from './backup/backup.js';
