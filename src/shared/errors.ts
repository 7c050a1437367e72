import type { LocalText } from './local-text.js';

/**
 * Errors a technician can act on. Every job failure carries one of these codes, a message that
 * says what happened, and a hint that says what to do. The UI translates by code.
 */
export const ERROR_CODES = [
  'PORT_BUSY',
  'PORT_GONE',
  'PORT_ACCESS_DENIED',
  'NO_BOOTLOADER',
  'WRONG_CHIP',
  'FLASH_TOO_SMALL',
  'FLASH_VERIFY_FAILED',
  'FLASH_WRITE_FAILED',
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
  'STEP_TIMEOUT',
  'CANCELLED',
  'INTERRUPTED',
  'INTERNAL',
] as const;
export type ErrorCode = (typeof ERROR_CODES)[number];

export interface JobError {
  code: ErrorCode;
  message: string;
  hint?: string;
  /** `message` and `hint` for the renderer to translate (when the job gave them). */
  text?: LocalText;
  hintText?: LocalText;
  /** Which step failed and, for flashing, where (e.g. "0x10000 + 131072 bytes"). */
  where?: string;
  /** Evidence for the technician, e.g. the device's boot log when the broker never saw it. */
  attachment?: { label: string; text: string };
}

/**
 * Default English message and hint per code. Jobs usually give a more specific message (naming
 * the port, MAC or partition); the hint says what the technician should do next.
 */
export const ERROR_TEXT: Record<ErrorCode, { message: string; hint: string }> = {
  PORT_BUSY: {
    message: 'The serial port is in use by another program.',
    hint: 'Close the other program (Arduino IDE serial monitor, screen, minicom, another station) and retry.',
  },
  PORT_GONE: {
    message: 'The serial port disappeared (board unplugged or USB reset).',
    hint: 'Check the USB cable and hub, plug the board back in and retry.',
  },
  PORT_ACCESS_DENIED: {
    message: 'This user may not open the serial port.',
    hint: 'On Linux add the user to the "dialout" group (sudo usermod -aG dialout $USER) and log in again.',
  },
  NO_BOOTLOADER: {
    message: 'The board did not answer in bootloader mode.',
    hint: 'Hold the BOOT button, press and release EN/RESET, release BOOT, then retry (or use manual reset mode).',
  },
  WRONG_CHIP: {
    message: 'The chip on this board does not match the firmware bundle.',
    hint: 'Use a bundle built for this chip family, or put the right board on this port.',
  },
  FLASH_TOO_SMALL: {
    message: "The board's flash memory is too small for this firmware bundle.",
    hint: "Use a board with enough flash (see the bundle's partition table) or a bundle for this flash size.",
  },
  FLASH_VERIFY_FAILED: {
    message: 'Flash verification failed (MD5 of the written data differs).',
    hint: 'Retry; if it repeats, set a lower maximum speed in the profile, change the cable, or replace the board (flash may be worn).',
  },
  FLASH_WRITE_FAILED: {
    message: 'Writing the flash failed (the board stopped answering).',
    hint: 'Retry; if it repeats, try a shorter USB cable, a powered hub, or a lower maximum speed in the profile.',
  },
  MAC_ALREADY_PROVISIONED: {
    message: 'This MAC already has an active certificate.',
    hint: 'Choose "replace" to give the device a new identity (the old certificate stays valid until the device is online with the new one), or stop and check why it is being provisioned again.',
  },
  SERVER_UNREACHABLE: {
    message: 'The issuance server could not be reached.',
    hint: 'Check the server URL in the profile, the network, and that the server is running.',
  },
  SERVER_REJECTED: {
    message: 'The issuance server rejected the request.',
    hint: 'Check the token, the account (conta_id) and the gateway code in the profile.',
  },
  BROKER_NEVER_SAW_DEVICE: {
    message: 'The device was flashed but never came online on the broker.',
    hint: 'Read the attached boot log: check the Wi-Fi name/password and broker address in the profile, and that the broker trusts this CA.',
  },
  BUNDLE_INVALID: {
    message: 'The firmware bundle is invalid.',
    hint: 'Rebuild or re-download the bundle; its manifest must list valid images and a partition table with the data partition.',
  },
  PROFILE_INVALID: {
    message: 'The provisioning profile is invalid.',
    hint: 'Fix the field named in the message and load the profile again.',
  },
  SSH_AUTH_FAILED: { message: 'SSH login failed.', hint: 'Check the user name, password or key.' },
  SSH_UNREACHABLE: { message: 'The host could not be reached over SSH.', hint: 'Check the address, the network and that SSH is enabled.' },
  SSH_HOST_KEY_CHANGED: {
    message: "The host's SSH key changed since it was first seen.",
    hint: 'If the system was reinstalled, remove the pinned key; otherwise stop: someone may be impersonating it.',
  },
  SSH_HOST_KEY_UNKNOWN: { message: "The host's SSH key is not known yet.", hint: 'Compare the fingerprint with the device and accept it.' },
  SUDO_PASSWORD_REQUIRED: { message: 'sudo needs a password on the host.', hint: 'Enter the sudo password when asked.' },
  REMOTE_COMMAND_FAILED: { message: 'A command on the remote host failed.', hint: 'Read the command output in the job log.' },
  DEVICE_CONSOLE_FAILED: {
    message: "The device's provisioning console did not answer as expected.",
    hint: 'Check that the board runs the TDS firmware (device-key mode needs it), then retry.',
  },
  STEP_TIMEOUT: {
    message: 'A step of the job did not finish in time and was stopped.',
    hint: 'Retry; if the same step hangs again, unplug and replug the device (or reboot the Pi) and check the job log.',
  },
  CANCELLED: { message: 'The job was cancelled.', hint: 'Start it again when ready.' },
  INTERRUPTED: {
    message: 'The job was interrupted: the station core stopped while it ran.',
    hint: 'Retry it: the device starts again from the first step.',
  },
  INTERNAL: { message: 'An unexpected error stopped the job.', hint: 'Retry; if it repeats, export the job log and report it.' },
};
