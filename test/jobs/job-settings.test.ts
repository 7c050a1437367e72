import { describe, expect, it } from 'vitest';
import { esp32JobSettings } from '../../src/main/esp32/job-settings.js';
import { JobFailure } from '../../src/main/jobs/job-failure.js';
import { piJobSettings } from '../../src/main/pi/job-settings.js';
import { ProfileSchema } from '../../src/shared/profile.js';

// The profile → job-settings mapping, once per device kind, as the Bench/Field screens and the CLI use it.
const profile = ProfileSchema.parse({
  name: 'line-1',
  accountId: 3,
  brokerHost: 'broker.lan',
  validityDays: 365,
  esp32: { bundlePath: '/opt/fw', wifiSsid: 'plant', maxBaud: 460800, modbus: { baudrate: 19200, slaves: [{ slave: 3, register: 40, unit: 'V' }] } },
  pi: {
    serviceManager: 'none',
    agent: { keepaliveSec: 10, bufferMaxMessages: 500, renewBeforeDays: 7 },
    agentConfig: { mqtt: { reconnect_max_s: 2 }, commands: { reboot: ['true'] } },
  },
});

describe('profile → job settings', () => {
  it('ESP32: every profile field lands in the job; a scanned code replaces the template', () => {
    const run = { operator: 'ana', stationId: 'bench-1', reprovision: 'ask' as const };
    expect(esp32JobSettings(profile, 'plant-pass', run)).toEqual({
      accountId: 3,
      codeTemplate: 'GW-{mac12}',
      nameTemplate: 'Gateway {MAC12}',
      broker: { host: 'broker.lan', port: 8883 },
      wifi: { ssid: 'plant', password: 'plant-pass' },
      modbus: {
        baudrate: 19200,
        parity: 'N',
        stopbits: 1,
        timeout_s: 0.3,
        maxDevices: 8,
        slaves: [{ slave: 3, register: 40, unit: 'V', scale: 1, interval: 60, function: 'holding', count: 1, signed: false }],
      },
      maxBaud: 460800,
      resetMode: 'auto',
      onlineTimeoutMs: 60_000,
      keyType: 'ec',
      keyMode: 'station',
      operator: 'ana',
      stationId: 'bench-1',
      reprovision: 'ask',
      validityDays: 365,
    });
    expect(esp32JobSettings(profile, '', { ...run, gatewayCode: 'GW-SCANNED' }, { bootLogMs: 500 })).toMatchObject({ codeTemplate: 'GW-SCANNED', bootLogMs: 500, wifi: { password: '' } });
    // No cap in the profile: none in the job either (the station picks the rate per USB bridge).
    const auto = ProfileSchema.parse({ ...profile, esp32: { bundlePath: '/opt/fw', wifiSsid: 'plant' } });
    expect(esp32JobSettings(auto, '', run)).not.toHaveProperty('maxBaud');
    // No readings in the profile: none in the job (the board's factory data gets no table).
    expect(esp32JobSettings(auto, '', run)).not.toHaveProperty('modbus');
    const { esp32: _none, ...noEsp } = profile;
    expect(() => esp32JobSettings(noEsp, '', run)).toThrow(JobFailure);
    // The birth identity (zero-touch): with station keys it is the job's identity; with device keys it is refused by name.
    const born = ProfileSchema.parse({ ...profile, esp32: { bundlePath: '/opt/fw', wifiSsid: 'plant', birthIdentity: true } });
    expect(esp32JobSettings(born, '', run).identity).toBe('birth');
    expect(esp32JobSettings(auto, '', run)).not.toHaveProperty('identity');
    expect(() => esp32JobSettings({ ...born, keyMode: 'device' }, '', run)).toThrow(/birth identity, which needs station-made keys/);
  });

  it('Pi: the login user runs the agent without a service manager; agent settings go over the raw config', () => {
    const run = { operator: 'ana', stationId: 'field-1', reprovision: 'stop' as const, hostKeyPolicy: 'ask' as const, loginUser: 'pi' };
    const s = piJobSettings(profile, { ...run, gatewayCode: 'PI-1' });
    expect(s).toMatchObject({ accountId: 3, serviceManager: 'none', serviceUser: 'pi', python: '/usr/bin/python3', installPrefix: '/', gatewayCode: 'PI-1' });
    expect(s.agentConfig).toEqual({
      mqtt: { reconnect_max_s: 2, keepalive: 10 },
      buffer: { max_messages: 500 },
      renewal: { renew_before_days: 7 },
      commands: { reboot: ['true'] },
    });
    const systemd = ProfileSchema.parse({ ...profile, pi: { serviceManager: 'systemd' } });
    expect(piJobSettings(systemd, run).serviceUser).toBe('gateway-iot');
    const { pi: _none, ...noPi } = profile;
    expect(piJobSettings(noPi, run)).toMatchObject({ installPrefix: '/', serviceManager: 'systemd', onlineTimeoutMs: 60_000 });
  });
});
