/**
 * Fault injection for the ESP32 simulator. A fault is written `name` or `name=value`, given at
 * start (`--fault`, `faults: [...]`) or later on the control channel (`FAULT name=value`).
 */
import { SIM_CHIPS, type SimChip } from './chip.js';

export const FAULT_NAMES = [
  'unplug-at-byte',
  'corrupt-frame',
  'bad-checksum',
  'slow-erase',
  'md5-mismatch',
  'no-ohai',
  'mute',
  'wrong-chip',
  'flash-too-small',
  'late-ack',
  'inflate-error',
  'rom-overrun',
  'stub-fixed-baud',
] as const;
export type FaultName = (typeof FAULT_NAMES)[number];

export interface FaultState {
  /** The device vanishes once this many bytes have come from the host since it was plugged in. */
  unplugAtByte?: number;
  /** The next N responses are sent with a broken SLIP escape. */
  corruptFrames: number;
  /** The next N flash data blocks are rejected as having a bad checksum (stub 0xC1 / ROM 0x07). */
  badChecksums: number;
  /** Extra time per erased 4 KiB sector, in ms. */
  slowEraseMs: number;
  /** Flip a bit in the region just written, once or after every write. */
  md5Mismatch: 'off' | 'once' | 'always';
  /** The stub starts but never sends its "OHAI" greeting. */
  noOhai: boolean;
  /** The bootloader never answers. */
  mute: boolean;
  /** One-shot: the answer to the next FAULT_BLOCK_SEQ compressed block comes this many ms late (the block is consumed). */
  lateAckMs: number;
  /** The stub's decompressor fails on the FAULT_BLOCK_SEQ compressed block (damage the XOR checksum missed); once, or on every write. */
  inflateError: 'off' | 'once' | 'always';
  /**
   * The ROM (not the stub) cannot keep up with long bursts above this rate: past the first
   * ROM_FIFO_BYTES of each burst from the host, every GARBLE_EVERY-th byte arrives damaged. Short
   * commands get through; a 6 KB stub block does not. 0 = off.
   */
  romOverrunAbove: number;
  /** The stub sets the UART to 115200 when it starts (as some esp-flasher-stub builds do on the ESP32), whatever the ROM's rate was. */
  stubFixedBaud: boolean;
}

/**
 * Block-level faults hit the third data block (seq 2) of a compressed write, so the damage lands
 * mid-image (in the fixture bundle only the app has that many blocks) and never in the greeting.
 */
export const FAULT_BLOCK_SEQ = 2;

export function noFaults(): FaultState {
  return { corruptFrames: 0, badChecksums: 0, slowEraseMs: 0, md5Mismatch: 'off', noOhai: false, mute: false, lateAckMs: 0, inflateError: 'off', romOverrunAbove: 0, stubFixedBaud: false };
}

/** Effects a fault has on the board itself rather than on the protocol. */
export interface BoardFaultEffects {
  /** 'default' = back to the chip the board was started with. */
  chip?: SimChip | 'default';
  /** Usable flash size in bytes; 'default' = the whole flash. */
  flashCapacity?: number | 'default';
}

export function parseSize(text: string): number {
  const m = /^(\d+)\s*(MB|M|KB|K)?$/i.exec(text.trim());
  if (m) {
    const n = Number(m[1]);
    const unit = (m[2] ?? '').toUpperCase();
    return unit.startsWith('M') ? n * 0x100000 : unit.startsWith('K') ? n * 1024 : n;
  }
  if (/^0x[0-9a-f]+$/i.test(text.trim())) return Number(text.trim());
  throw new Error(`"${text}" is not a size (e.g. 4MB, 2MB, 0x400000)`);
}

function count(value: string | undefined, name: string): number {
  if (value === undefined) return 1;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) throw new Error(`fault ${name}: "${value}" is not a count`);
  return n;
}

/** Applies one fault spec to the state; returns board-level effects. Throws with a usable message. */
export function applyFault(state: FaultState, spec: string): BoardFaultEffects {
  const [rawName = '', value] = spec.trim().split('=', 2) as [string, string | undefined];
  const name = rawName.toLowerCase();
  switch (name) {
    case 'unplug-at-byte': {
      const n = Number(value);
      if (!Number.isInteger(n) || n < 0) throw new Error('fault unplug-at-byte needs a byte count: unplug-at-byte=N');
      state.unplugAtByte = n;
      return {};
    }
    case 'corrupt-frame':
      state.corruptFrames = count(value, name);
      return {};
    case 'bad-checksum':
      state.badChecksums = count(value, name);
      return {};
    case 'slow-erase': {
      const ms = value === undefined ? 50 : Number(value);
      if (!Number.isFinite(ms) || ms < 0) throw new Error('fault slow-erase takes milliseconds per sector: slow-erase=50');
      state.slowEraseMs = ms;
      return {};
    }
    case 'md5-mismatch':
      if (value !== undefined && value !== 'once' && value !== 'always') throw new Error('fault md5-mismatch takes "once" or "always"');
      state.md5Mismatch = value === 'always' ? 'always' : 'once';
      return {};
    case 'no-ohai':
      state.noOhai = true;
      return {};
    case 'mute':
      state.mute = true;
      return {};
    case 'wrong-chip': {
      const chip = (value ?? 'esp32s3').toLowerCase() as SimChip;
      if (!SIM_CHIPS.includes(chip)) throw new Error(`fault wrong-chip takes ${SIM_CHIPS.join(', ')}`);
      return { chip };
    }
    case 'flash-too-small':
      return { flashCapacity: parseSize(value ?? '2MB') };
    case 'late-ack': {
      const ms = value === undefined ? 3500 : Number(value);
      if (!Number.isFinite(ms) || ms <= 0) throw new Error('fault late-ack takes milliseconds: late-ack=3500');
      state.lateAckMs = ms;
      return {};
    }
    case 'inflate-error':
      if (value !== undefined && value !== 'once' && value !== 'always') throw new Error('fault inflate-error takes "once" or "always"');
      state.inflateError = value === 'always' ? 'always' : 'once';
      return {};
    case 'rom-overrun': {
      const rate = value === undefined ? 115_200 : Number(value);
      if (!Number.isInteger(rate) || rate <= 0) throw new Error('fault rom-overrun takes the fastest rate the ROM keeps up with: rom-overrun=115200');
      state.romOverrunAbove = rate;
      return {};
    }
    case 'stub-fixed-baud':
      state.stubFixedBaud = true;
      return {};
    default:
      throw new Error(`unknown fault "${rawName}" (known: ${FAULT_NAMES.join(', ')})`);
  }
}

/** Clears one fault (or all with "all"). */
export function clearFault(state: FaultState, name: string): BoardFaultEffects {
  const fresh = noFaults();
  switch (name.toLowerCase()) {
    case 'all':
      Object.assign(state, fresh);
      delete state.unplugAtByte;
      return { chip: 'default', flashCapacity: 'default' };
    case 'unplug-at-byte':
      delete state.unplugAtByte;
      return {};
    case 'corrupt-frame':
      state.corruptFrames = 0;
      return {};
    case 'bad-checksum':
      state.badChecksums = 0;
      return {};
    case 'slow-erase':
      state.slowEraseMs = 0;
      return {};
    case 'md5-mismatch':
      state.md5Mismatch = 'off';
      return {};
    case 'no-ohai':
      state.noOhai = false;
      return {};
    case 'mute':
      state.mute = false;
      return {};
    case 'wrong-chip':
      return { chip: 'default' };
    case 'flash-too-small':
      return { flashCapacity: 'default' };
    case 'late-ack':
      state.lateAckMs = 0;
      return {};
    case 'inflate-error':
      state.inflateError = 'off';
      return {};
    case 'rom-overrun':
      state.romOverrunAbove = 0;
      return {};
    case 'stub-fixed-baud':
      state.stubFixedBaud = false;
      return {};
    default:
      throw new Error(`unknown fault "${name}" (known: ${FAULT_NAMES.join(', ')}, all)`);
  }
}
