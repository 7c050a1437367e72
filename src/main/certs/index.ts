export { DeviceKey, pemBytes, type DeviceKeyType } from './device-key.js';
export { IssuerError, type ActiveCertificate, type CertificateIssuer, type IssuerErrorKind } from './issuer.js';
export { ApiClientIssuer, RenewingApiClientIssuer } from './api-client-issuer.js';
