import { describe, expect, it } from 'vitest';
import { describeModbus } from '../../src/main/esp32/factory-data.js';
import { encodeModbusTable, Esp32ModbusSchema, MODBUS_TABLE_MAX_BYTES, modbusTableBytes } from '../../src/shared/esp32-modbus.js';
import { ProfileInputSchema, ProfileSchema } from '../../src/shared/profile.js';
import { toFieldIssues } from '../../src/shared/validation.js';

// The ESP32 profile's Modbus readings: validated like the Pi's, limited like the firmware
// (qte_max_dispositivos, table size), and encoded into the firmware's compact table.
const reading = (slave: number, register: number, over: Record<string, unknown> = {}) => ({ slave, register, unit: 'kWh', ...over });

function issues(value: unknown): Array<{ field: string; key: string; message: string }> {
  const r = Esp32ModbusSchema.safeParse(value);
  return r.success ? [] : toFieldIssues(r.error).map(({ field, key, message }) => ({ field, key, message }));
}

describe('ESP32 Modbus readings in the profile', () => {
  it('fills the defaults (9600 8N1, 300 ms, 8 devices, 60 s) and encodes the firmware table', () => {
    const m = Esp32ModbusSchema.parse({
      slaves: [
        reading(1, 0),
        reading(2, 100, { function: 'input', count: 2, signed: true, scale: 0.01, interval: 5, unit: '°C' }),
        reading(2, 7, { signed: true, interval: 2.5 }),
      ],
    });
    expect(m).toMatchObject({ baudrate: 9600, parity: 'N', stopbits: 1, timeout_s: 0.3, maxDevices: 8 });
    expect(JSON.parse(encodeModbusTable(m))).toEqual({
      v: 1,
      baud: 9600,
      par: 'N',
      stop: 1,
      to_ms: 300,
      max_dev: 8,
      pts: [
        [1, 3, 0, 'u16', 1, 'kWh', 60],
        [2, 4, 100, 'i32', 0.01, '°C', 5],
        [2, 3, 7, 'i16', 1, 'kWh', 2.5],
      ],
    });
    expect(describeModbus(m)).toBe('Modbus: 3 reading(s) from 2 of at most 8 device(s) at 9600 baud');
    expect(describeModbus(undefined)).toBe('no Modbus readings');
  });

  it('refuses what the firmware cannot do, naming the field', () => {
    expect(issues({ baudrate: 4_000_000, parity: 'X', stopbits: 3, timeout_s: 9, maxDevices: 33, slaves: [reading(0, -1, { unit: '', interval: 0.5 })] })).toEqual([
      { field: 'baudrate', key: 'range', message: 'Enter a whole number from 1200 to 115200.' },
      { field: 'parity', key: 'choice', message: 'Pick one of the options.' },
      { field: 'stopbits', key: 'range', message: 'Enter a whole number from 1 to 2.' },
      { field: 'timeout_s', key: 'numberRange', message: 'Enter a number from 0.05 to 5.' },
      { field: 'maxDevices', key: 'range', message: 'Enter a whole number from 1 to 32.' },
      { field: 'slaves.0.slave', key: 'range', message: 'Enter a whole number from 1 to 247.' },
      { field: 'slaves.0.register', key: 'range', message: 'Enter a whole number from 0 to 65535.' },
      { field: 'slaves.0.unit', key: 'required', message: 'This field is required.' },
      { field: 'slaves.0.interval', key: 'numberRange', message: 'Enter a number from 1 to 86400.' },
    ]);
    expect(issues({ slaves: Array.from({ length: 65 }, (_, i) => reading(1, i)) })).toEqual([{ field: 'slaves', key: 'modbusReadings', message: 'At most 64 readings.' }]);
  });

  it('enforces qte_max_dispositivos: distinct slave addresses, not readings', () => {
    const nine = Array.from({ length: 9 }, (_, i) => reading(i + 1, 0));
    expect(issues({ slaves: nine })).toEqual([
      { field: 'maxDevices', key: 'modbusDevices', message: 'The readings name more devices (slave addresses) than this: raise it or remove readings.' },
    ]);
    expect(issues({ maxDevices: 9, slaves: nine })).toEqual([]);
    // Many registers of one meter are one device.
    expect(issues({ maxDevices: 1, slaves: Array.from({ length: 20 }, (_, i) => reading(5, i)) })).toEqual([]);
  });

  it('refuses a table larger than an NVS string holds', () => {
    const big = { maxDevices: 32, slaves: Array.from({ length: 64 }, (_, i) => reading((i % 32) + 1, 60000 + i, { unit: 'ÿ'.repeat(16), scale: -123456.789, interval: 86399.5 })) };
    expect(modbusTableBytes(Esp32ModbusSchema.parse({ ...big, slaves: big.slaves.slice(0, 10) }))).toBeLessThan(MODBUS_TABLE_MAX_BYTES);
    expect(issues(big)).toEqual([
      { field: 'slaves', key: 'modbusTableSize', message: 'The readings do not fit the gateway’s configuration (3967 bytes): remove readings or shorten their units.' },
    ]);
    // 64 plain readings fit.
    expect(issues({ maxDevices: 32, slaves: Array.from({ length: 64 }, (_, i) => reading((i % 32) + 1, i, { scale: 0.1 })) })).toEqual([]);
  });

  it('is part of the profile and of the Settings form request, under esp32.modbus', () => {
    const base = { name: 'p', accountId: 1, brokerHost: 'broker.lan', esp32: { bundlePath: '/opt/fw', wifiSsid: 'plant' } };
    expect(ProfileSchema.parse(base).esp32?.modbus).toBeUndefined();
    const withModbus = { ...base, esp32: { ...base.esp32, modbus: { maxDevices: 1, slaves: [reading(1, 0), reading(2, 0)] } } };
    const r = ProfileInputSchema.safeParse(withModbus);
    expect(r.success).toBe(false);
    expect(toFieldIssues(r.error!).map((i) => [i.field, i.key])).toEqual([['esp32.modbus.maxDevices', 'modbusDevices']]);
  });
});
