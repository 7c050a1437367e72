import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadProfileFile } from '../../src/main/esp32/profile-file.js';
import { JobFailure } from '../../src/main/jobs/job-failure.js';
import { tempDir } from '../support/temp.js';

describe('profile files for the headless CLI', () => {
  const dir = tempDir('tds-profile-');
  afterAll(() => dir.remove());
  const write = (name: string, text: string): string => {
    const file = path.join(dir.path, name);
    writeFileSync(file, text);
    return file;
  };
  const base = {
    name: 'Bench 1',
    server: { url: 'https://127.0.0.1:8443', token: { env: 'TDS_TOKEN' } },
    contaId: 1,
    broker: { host: 'mqtt.example', port: 8883 },
    esp32: { bundle: 'fw/manifest.json', wifi: { ssid: 'plant' } },
  };

  it('resolves relative paths against the profile file', async () => {
    const p = await loadProfileFile(write('ok.json', JSON.stringify(base)));
    expect(p.esp32?.bundle).toBe(path.join(dir.path, 'fw/manifest.json'));
  });

  it('names every bad field in words, not as schema keys', async () => {
    const bad = {
      ...base,
      broker: { host: 'mqtt.example', port: 70000 },
      certificate: { validityDays: 0 },
      pi: { modbus: { slaves: [{ slave: 300, register: 1, unit: '' }] } },
    };
    const err = await loadProfileFile(write('bad.json', JSON.stringify(bad))).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(JobFailure);
    expect((err as JobFailure).code).toBe('PROFILE_INVALID');
    const message = (err as JobFailure).message;
    expect(message).toMatch(/broker\.port: .*65535/);
    expect(message).toMatch(/certificate\.validityDays: .*1/);
    expect(message).toMatch(/pi\.modbus\.slaves\.0\.slave: Enter a whole number from 1 to 247\./);
    expect(message).toMatch(/pi\.modbus\.slaves\.0\.unit: This field is required\./);
    expect(message).not.toMatch(/range:\d/);
  });

  it('says when the file is not JSON or cannot be read', async () => {
    await expect(loadProfileFile(write('junk.json', '{ nope'))).rejects.toThrow(/is not JSON/);
    await expect(loadProfileFile(path.join(dir.path, 'missing.json'))).rejects.toThrow(/Cannot read profile/);
  });
});
