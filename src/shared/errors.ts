/**
 * Errors a technician can act on. Every job failure carries one of these codes, a message that
 * says what happened, and a hint that says what to do. The UI translates by code.
 */
export const ERROR_CODES = [
  'PORT_BUSY',
  'PORT_GONE',
  'NO_BOOTLOADER',
  'WRONG_CHIP',
  'FLASH_TOO_SMALL',
  'FLASH_VERIFY_FAILED',
  'MAC_ALREADY_PROVISIONED',
  'SERVER_UNREACHABLE',
  'SERVER_REJECTED',
  'BROKER_NEVER_SAW_DEVICE',
  'BUNDLE_INVALID',
  'PROFILE_INVALID',
  'SSH_AUTH_FAILED',
  'SSH_UNREACHABLE',
  'SSH_HOST_KEY_CHANGED',
  'SSH_HOST_KEY_UNKNOWN',
  'SUDO_PASSWORD_REQUIRED',
  'REMOTE_COMMAND_FAILED',
  'DEVICE_CONSOLE_FAILED',
  'CANCELLED',
  'INTERNAL',
] as const;
export type ErrorCode = (typeof ERROR_CODES)[number];

export interface JobError {
  code: ErrorCode;
  message: string;
  hint?: string;
  /** Which step failed and, for flashing, where (e.g. "0x10000 + 131072 bytes"). */
  where?: string;
}
