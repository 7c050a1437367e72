export { DeviceKey, pemBytes, type DeviceKeyType } from './device-key.js';
export * from './issuer.js';
export * from './api-client-issuer.js';
export * from './device-identity.js';
