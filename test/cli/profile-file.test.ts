import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadProfileFile } from '../../src/main/cli/profile-file.js';
import { JobFailure } from '../../src/main/jobs/job-failure.js';
import { ProfileInputSchema, ProfileSchema } from '../../src/shared/profile.js';
import { tempDir } from '../support/temp.js';

describe('profile files for the headless CLI', () => {
  const dir = tempDir('tds-profile-');
  afterAll(() => dir.remove());
  const write = (name: string, value: unknown): string => {
    const file = path.join(dir.path, name);
    writeFileSync(file, typeof value === 'string' ? value : JSON.stringify(value));
    return file;
  };
  const base = {
    name: 'Bench 1',
    server: { url: 'https://127.0.0.1:8443', token: { env: 'TDS_TOKEN' } },
    accountId: 1,
    brokerHost: 'mqtt.example',
    esp32: { bundlePath: 'fw/manifest.json', wifiSsid: 'plant', wifiPassword: { env: 'TDS_WIFI' } },
  };

  it('parses into the same profile model as the Settings form, with the same defaults', async () => {
    const file = await loadProfileFile(write('ok.json', base));
    expect(file.warnings).toEqual([]);
    expect(file.profile.esp32?.bundlePath).toBe(path.join(dir.path, 'fw/manifest.json'));
    expect(file.wifiPassword).toEqual({ env: 'TDS_WIFI' });
    expect(file.server).toEqual(base.server);
    // The form's request and the file give the same Profile for the same fields.
    const fromForm = ProfileSchema.parse(ProfileInputSchema.parse({ ...base, server: undefined, esp32: { ...base.esp32, bundlePath: file.profile.esp32!.bundlePath, wifiPassword: undefined } }));
    expect(file.profile).toEqual(fromForm);
    expect(file.profile).toMatchObject({ codeTemplate: 'GW-{mac12}', nameTemplate: 'Gateway {MAC12}', brokerPort: 8883, keyType: 'ec', keyMode: 'station' });
  });

  it('loads a file with the former field names, naming each one to rename', async () => {
    const old = {
      name: 'Bench 1',
      server: { url: 'https://127.0.0.1:8443', token: 'tds_0123456789abcdef' },
      contaId: 7,
      gateway: { codigoTemplate: 'OLD-{mac12}', nomeTemplate: 'Old {mac12}' },
      broker: { host: 'mqtt.example', port: 8884 },
      certificate: { keyType: 'rsa', keyMode: 'device', validityDays: 30 },
      esp32: { bundle: 'fw', wifi: { ssid: 'plant', password: 'plant-pass' }, baud: 460800 },
      operator: 'ana',
    };
    const file = await loadProfileFile(write('old.json', old));
    expect(file.profile).toEqual({
      name: 'Bench 1',
      accountId: 7,
      codeTemplate: 'OLD-{mac12}',
      nameTemplate: 'Old {mac12}',
      brokerHost: 'mqtt.example',
      brokerPort: 8884,
      keyType: 'rsa',
      keyMode: 'device',
      validityDays: 30,
      esp32: { bundlePath: path.join(dir.path, 'fw'), wifiSsid: 'plant', maxBaud: 460800, resetMode: 'auto', onlineTimeoutSec: 60 },
    });
    expect(file.wifiPassword).toBe('plant-pass');
    expect(file.operator).toBe('ana');
    expect(file.warnings).toHaveLength(12);
    expect(file.warnings).toContain(`profile ${path.join(dir.path, 'old.json')}: \`contaId\` is now \`accountId\`; loaded it, please rename`);
    expect(file.warnings.join('\n')).toContain('`gateway.codigoTemplate` is now `codeTemplate`');
    expect(file.warnings.join('\n')).toContain('`esp32.wifi.ssid` is now `esp32.wifiSsid`');
    // The former fixed rate is read as the speed cap.
    expect(file.warnings.join('\n')).toContain('`esp32.baud` is now `esp32.maxBaud`');
  });

  it('refuses a field given under its former and its new name', async () => {
    const err = await loadProfileFile(write('both.json', { ...base, contaId: 2, esp32: { ...base.esp32, bundle: 'other' } })).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(JobFailure);
    expect((err as JobFailure).code).toBe('PROFILE_INVALID');
    expect((err as JobFailure).message).toMatch(/`contaId` and `accountId` are the same field/);
    expect((err as JobFailure).message).toMatch(/`esp32\.bundle` and `esp32\.bundlePath` are the same field/);
  });

  it('names every bad field in words, not as schema keys', async () => {
    const bad = {
      ...base,
      brokerPort: 70000,
      validityDays: 0,
      esp32: { ...base.esp32, maxBaud: 9600, modbus: { maxDevices: 1, slaves: [{ slave: 1, register: 0, unit: 'V' }, { slave: 2, register: 0, unit: 'V', interval: 0.1 }] } },
      pi: { modbus: { slaves: [{ slave: 300, register: 1, unit: '' }] } },
    };
    const err = await loadProfileFile(write('bad.json', bad)).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(JobFailure);
    expect((err as JobFailure).code).toBe('PROFILE_INVALID');
    const message = (err as JobFailure).message;
    expect(message).toMatch(/brokerPort: .*65535/);
    expect(message).toMatch(/validityDays: .*1/);
    expect(message).toMatch(/esp32\.maxBaud: .*115200.*2000000/);
    expect(message).toMatch(/esp32\.modbus\.slaves\.1\.interval: Enter a number from 1 to 86400\./);
    expect(message).toMatch(/pi\.modbus\.slaves\.0\.slave: Enter a whole number from 1 to 247\./);
    expect(message).toMatch(/pi\.modbus\.slaves\.0\.unit: This field is required\./);
    expect(message).not.toMatch(/range:\d/);
  });

  it('says when the file is not JSON or cannot be read', async () => {
    await expect(loadProfileFile(write('junk.json', '{ nope'))).rejects.toThrow(/is not JSON/);
    await expect(loadProfileFile(path.join(dir.path, 'missing.json'))).rejects.toThrow(/Cannot read profile/);
  });
});
