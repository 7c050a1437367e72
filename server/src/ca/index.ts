export * from './authority.js';
export { CsrError, parseCsr, type ParsedCsr } from './csr.js';
export { generateKey, privateKeyPem, describePublicKey, type KeyType, type GeneratedKey } from './keys.js';
export { loadCa, saveCa, readCaCertificate, MIN_PASSPHRASE_LENGTH, type CaRole } from './key-store.js';
export { hasCa } from './ca-backend.js';
export { WrongPassphraseError, sealSecret, openSecret } from './key-envelope.js';
export type { SubjectSettings, SignedCertificate } from './profile.js';
export { createDeviceCsr } from './csr-request.js';
