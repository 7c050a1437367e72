import { z } from 'zod';
import { MODBUS_PARITIES, PiModbusSlaveSchema } from './pi-agent.js';
import { V, zIntRange, zNumberRange } from './validation.js';

/**
 * What a profile says about an ESP32 gateway's Modbus RTU readings, and the compact table the
 * station writes for the firmware (factory data, NVS partition `tdscfg`, namespace `tds`, string key
 * `modbus`; format in docs/firmware-esp32.md). The readings mirror the Pi agent's (same fields and
 * rules, so the Settings form uses one component for both); the serial port is the board's RS-485
 * UART, so there is no port or data-bits field, and the limits are what the firmware holds.
 */

/** The seed's `qte_max_dispositivos`: Modbus devices (slave addresses) per gateway. */
export const DEFAULT_MAX_DEVICES = 8;
/** The most devices the firmware polls on one bus (the seed's "8-32"). */
export const MAX_MODBUS_DEVICES = 32;
/** Readings (registers) the firmware polls at most. */
export const MAX_MODBUS_READINGS = 64;
/** Version of the table layout; the firmware refuses others. */
export const MODBUS_TABLE_VERSION = 1;
/**
 * The longest string the factory data's NVS pages hold: a string never spans pages, so with its
 * header it fits in (126 − 2) entries of 32 bytes, minus its NUL (src/main/esp32/nvs/entries.ts).
 */
export const MODBUS_TABLE_MAX_BYTES = 3967;

/** One reading: the Pi's, except that an ESP32 polls a register at most once a second. */
export const Esp32ModbusReadingSchema = PiModbusSlaveSchema.extend({
  interval: zNumberRange(1, 86400).default(60),
});

const Esp32ModbusFields = z.object({
  baudrate: zIntRange(1200, 115_200).default(9600),
  parity: z.enum(MODBUS_PARITIES, { error: V.choice }).default('N'),
  stopbits: zIntRange(1, 2).default(1),
  /** How long the firmware waits for a slave's answer. */
  timeout_s: zNumberRange(0.05, 5).default(0.3),
  /** The seed's `qte_max_dispositivos`: distinct slave addresses the readings may name. */
  maxDevices: zIntRange(1, MAX_MODBUS_DEVICES).default(DEFAULT_MAX_DEVICES),
  slaves: z.array(Esp32ModbusReadingSchema).max(MAX_MODBUS_READINGS, V.modbusReadings).default([]),
});
export type Esp32Modbus = z.output<typeof Esp32ModbusFields>;

/** Distinct slave addresses the readings name. */
export function modbusDeviceCount(m: Pick<Esp32Modbus, 'slaves'>): number {
  return new Set(m.slaves.map((s) => s.slave)).size;
}

export const Esp32ModbusSchema = Esp32ModbusFields.superRefine((m, ctx) => {
  if (modbusDeviceCount(m) > m.maxDevices) ctx.addIssue({ code: 'custom', path: ['maxDevices'], message: V.modbusDevices });
  if (modbusTableBytes(m) > MODBUS_TABLE_MAX_BYTES) ctx.addIssue({ code: 'custom', path: ['slaves'], message: V.modbusTableSize });
});

type RegisterType = 'u16' | 'i16' | 'u32' | 'i32';

function registerType(count: number, signed: boolean): RegisterType {
  if (count === 2) return signed ? 'i32' : 'u32';
  return signed ? 'i16' : 'u16';
}

/**
 * The firmware's table (one NVS string): `{"v":1,"baud","par","stop","to_ms","max_dev","pts":[[slave,
 * fn, reg, type, scale, unit, every_s], …]}` — one array per reading keeps 64 readings inside the
 * MODBUS_TABLE_MAX_BYTES an NVS string holds.
 */
export function encodeModbusTable(m: Esp32Modbus): string {
  return JSON.stringify({
    v: MODBUS_TABLE_VERSION,
    baud: m.baudrate,
    par: m.parity,
    stop: m.stopbits,
    to_ms: Math.round(m.timeout_s * 1000),
    max_dev: m.maxDevices,
    pts: m.slaves.map((s) => [s.slave, s.function === 'input' ? 4 : 3, s.register, registerType(s.count, s.signed), s.scale, s.unit, s.interval]),
  });
}

/** Bytes the table takes in NVS (UTF-8, without the NUL). */
export function modbusTableBytes(m: Esp32Modbus): number {
  return new TextEncoder().encode(encodeModbusTable(m)).length;
}
