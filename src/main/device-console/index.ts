// Station-side client of the gateway firmware's serial console (tds-console/1) and the
// device-key provisioning flow built on it. See docs/firmware-esp32.md.
export { DeviceConsoleClient, ConsoleRequestError, type DeviceConsoleOptions } from './client.js';
export {
  provisionWithDeviceKey,
  type DeviceKeyProvisionInput,
  type DeviceKeyProvisionResult,
  type DeviceKeyStep,
  type ProvisionApi,
} from './device-key-flow.js';
export {
  CONSOLE_PROTOCOL,
  CONSOLE_KEYS,
  chunkRequests,
  crc32Hex,
  type ConsoleKey,
  type ConsoleEvent,
  type DeviceInfo,
  type CsrReply,
  type CommitReply,
} from './protocol.js';
