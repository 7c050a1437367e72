import { execFileSync } from 'node:child_process';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { FileSecretStore, SECRET } from '../../src/main/settings/secret-store.js';
import { SettingsStore } from '../../src/main/settings/settings-store.js';
import { StationEventBus } from '../../src/main/station/dispatch.js';
import { SettingsService } from '../../src/main/station/settings-service.js';
import { StationError } from '../../src/shared/ipc-errors.js';
import { tempDir } from '../support/temp.js';
import { requireTool } from '../support/tools.js';

const runtime = () => ({ bundledServer: null, embeddedBroker: null });

async function open(dir: string) {
  const store = new SettingsStore(dir);
  await store.load();
  const secrets = new FileSecretStore(path.join(dir, 'secrets.json'));
  const bus = new StationEventBus();
  const events: string[] = [];
  bus.subscribe((e) => events.push(e));
  return { store, secrets, service: new SettingsService(store, secrets, bus, runtime), events };
}

const profile = {
  name: 'line-1',
  accountId: 3,
  brokerHost: 'broker.factory.lan',
  esp32: { bundlePath: '/opt/fw/tds-gw', wifiSsid: 'factory', wifiPassword: 'correct horse battery' },
};

describe('settings, profiles and secrets', () => {
  let tmp: ReturnType<typeof tempDir> | undefined;
  afterEach(() => tmp?.remove());

  it('survive a restart; secrets live only in the 0600 secrets file', async () => {
    tmp = tempDir('tds-settings-');
    const a = await open(tmp.path);
    await a.service.update({ operator: 'Maria', language: 'pt-BR', stationId: 'bench-7' });
    await a.service.setServer({ mode: 'remote', url: 'https://tds.example.com:8443/', token: 'tds_0123456789abcdef0123456789', accountId: 3 });
    await a.service.saveProfile({ profile: { ...profile, brokerPort: 8883, codeTemplate: 'GW-{mac12}', nameTemplate: 'Gateway {mac}', keyType: 'ec', keyMode: 'station', esp32: { ...profile.esp32, maxBaud: 921600, resetMode: 'auto', onlineTimeoutSec: 60 } } });
    expect(a.events).toContain('settings.changed');

    const b = await open(tmp.path);
    const view = await b.service.view();
    expect(view).toMatchObject({ operator: 'Maria', language: 'pt-BR', stationId: 'bench-7', activeProfile: 'line-1' });
    expect(view.server).toMatchObject({ mode: 'remote', url: 'https://tds.example.com:8443', hasToken: true, accountId: 3 });
    const [p] = await b.service.profiles();
    expect(p).toMatchObject({ name: 'line-1', brokerHost: 'broker.factory.lan', esp32: { wifiSsid: 'factory', hasWifiPassword: true } });
    expect((await b.service.resolveProfile('line-1')).wifiPassword).toBe('correct horse battery');

    const settingsText = readFileSync(path.join(tmp.path, 'settings.json'), 'utf8');
    expect(settingsText).not.toContain('correct horse');
    expect(settingsText).not.toContain('tds_0123456789');
    expect(statSync(path.join(tmp.path, 'secrets.json')).mode & 0o777).toBe(0o600);
    expect(statSync(path.join(tmp.path, 'settings.json')).mode & 0o777).toBe(0o600);
    expect(await b.secrets.get(SECRET.serverToken)).toBe('tds_0123456789abcdef0123456789');
  });

  it('renaming a profile keeps its Wi-Fi password; an empty one clears it; names stay unique', async () => {
    tmp = tempDir('tds-settings-');
    const { service } = await open(tmp.path);
    const full = { ...profile, brokerPort: 8883, codeTemplate: 'GW-{mac12}', nameTemplate: 'Gateway {mac}', keyType: 'ec' as const, keyMode: 'station' as const, esp32: { ...profile.esp32, resetMode: 'auto' as const, onlineTimeoutSec: 60 } };
    await service.saveProfile({ profile: full });
    const { wifiPassword: _omit, ...espKeep } = full.esp32;
    await service.saveProfile({ profile: { ...full, name: 'line-2', esp32: espKeep }, previousName: 'line-1' });
    expect((await service.resolveProfile('line-2')).wifiPassword).toBe('correct horse battery');
    await expect(service.resolveProfile('line-1')).rejects.toMatchObject({ code: 'NOT_FOUND' });
    expect(service.current.activeProfile).toBe('line-2');
    await service.saveProfile({ profile: { ...full, name: 'other', esp32: espKeep } });
    const dup = await service.saveProfile({ profile: { ...full, name: 'other', esp32: espKeep }, previousName: 'line-2' }).catch((e: unknown) => e);
    expect(dup).toBeInstanceOf(StationError);
    expect((dup as StationError).code).toBe('CONFLICT');
    expect((dup as StationError).issues?.[0]?.field).toBe('profile.name');
    await service.saveProfile({ profile: { ...full, name: 'line-2', esp32: { ...espKeep, wifiPassword: '' } }, previousName: 'line-2' });
    expect((await service.profiles()).find((p) => p.name === 'line-2')?.esp32?.hasWifiPassword).toBe(false);
  });

  it('a remote server needs a token; a monitor identity must be a certificate with its own key', async () => {
    requireTool('openssl', 'openssl');
    tmp = tempDir('tds-settings-');
    const { service, secrets } = await open(tmp.path);
    await expect(service.setServer({ mode: 'remote', url: 'https://x.example', accountId: 1 })).rejects.toMatchObject({ code: 'INVALID_INPUT' });
    const mk = (name: string): { cert: string; key: string } => {
      const key = path.join(tmp!.path, `${name}.key`);
      const cert = path.join(tmp!.path, `${name}.crt`);
      execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', key, '-out', cert, '-subj', `/CN=${name}`, '-days', '30'], { stdio: 'ignore' });
      return { cert: readFileSync(cert, 'utf8'), key: readFileSync(key, 'utf8') };
    };
    const a = mk('station-monitor-bench-7');
    const b = mk('other');
    const mismatch = await service.setBroker({ host: '127.0.0.1', port: 8883, deviceHost: '10.0.0.2', monitor: { certPem: a.cert, keyPem: b.key } }).catch((e: unknown) => e);
    expect((mismatch as StationError).issues?.[0]).toMatchObject({ field: 'monitor.keyPem', key: 'keyMismatch' });
    const view = await service.setBroker({ host: '127.0.0.1', port: 8883, deviceHost: '10.0.0.2', monitor: { certPem: a.cert, keyPem: a.key } });
    expect(view.broker.monitor?.name).toBe('station-monitor-bench-7');
    expect(await secrets.get(SECRET.monitorKey)).toBe(a.key);
    expect(readFileSync(path.join(tmp.path, 'settings.json'), 'utf8')).not.toContain('PRIVATE KEY');
  });

  it('two secret-store instances on one file never lose each other’s secrets', async () => {
    tmp = tempDir('tds-settings-');
    const file = path.join(tmp.path, 'secrets.json');
    const a = new FileSecretStore(file);
    const b = new FileSecretStore(file);
    await a.get('x');
    await Promise.all([a.set('one', '1'), b.set('two', '2'), a.set('three', '3')]);
    await b.delete('three');
    const c = new FileSecretStore(file);
    expect([await c.get('one'), await c.get('two'), await c.get('three')]).toEqual(['1', '2', undefined]);
  });

  it('loads the profiles a station saved before the one profile model; the former fixed rate is the speed cap now', async () => {
    tmp = tempDir('tds-settings-');
    // settings.json exactly as the earlier Settings screen wrote it.
    const saved = {
      version: 1,
      operator: 'Maria',
      language: 'auto',
      stationId: 'bench-7',
      activeProfile: 'line-1',
      configured: true,
      server: { mode: 'remote', url: 'https://tds.example.com:8443', caPem: null, accountId: 3 },
      broker: { mode: 'external', host: '127.0.0.1', port: 8883, deviceHost: '10.0.0.2', caPem: null, monitor: null, startEmbedded: false },
      profiles: [
        {
          name: 'line-1',
          accountId: 3,
          codeTemplate: 'GW-{mac12}',
          nameTemplate: 'Gateway {mac}',
          brokerHost: 'broker.factory.lan',
          brokerPort: 8883,
          keyType: 'ec',
          keyMode: 'station',
          esp32: { bundlePath: '/opt/fw/tds-gw', wifiSsid: 'factory', baud: 921600, resetMode: 'auto', onlineTimeoutSec: 60 },
          pi: { installPrefix: '/', serviceManager: 'systemd', onlineTimeoutSec: 60, agent: { keepaliveSec: 30, bufferMaxMessages: 10000, renewBeforeDays: 30 } },
        },
      ],
      manualHosts: [],
    };
    writeFileSync(path.join(tmp.path, 'settings.json'), JSON.stringify(saved));
    const { service } = await open(tmp.path);
    // 921600 was the former form's default, not a choice: it becomes "automatic" (no cap).
    const { baud, ...esp32 } = saved.profiles[0]!.esp32;
    expect(baud).toBe(921600);
    const now = { ...saved.profiles[0]!, esp32 };
    expect(service.current.profiles).toEqual([now]);
    const [p] = await service.profiles();
    expect(p).toEqual({ ...now, esp32: { ...now.esp32, hasWifiPassword: false } });
    // Written back under the name it has now.
    await service.update({ operator: 'Ana' });
    const rewritten = JSON.parse(readFileSync(path.join(tmp.path, 'settings.json'), 'utf8')) as typeof saved;
    expect(rewritten.profiles[0]!.esp32).toEqual(now.esp32);
  });

  it('a stored fixed rate other than the former default stays as the cap', async () => {
    tmp = tempDir('tds-settings-');
    const capped = { name: 'capped', accountId: 1, brokerHost: 'broker.lan', esp32: { bundlePath: '/opt/fw', wifiSsid: 'plant', baud: 460800 } };
    writeFileSync(path.join(tmp.path, 'settings.json'), JSON.stringify({ version: 1, stationId: 'bench-7', profiles: [capped] }));
    const [p] = (await new SettingsStore(tmp.path).load()).profiles;
    expect(p!.esp32).toEqual({ bundlePath: '/opt/fw', wifiSsid: 'plant', maxBaud: 460800, resetMode: 'auto', onlineTimeoutSec: 60 });
  });

  it('a stored fixed rate below 115200 becomes the slowest speed cap, not a damaged file', async () => {
    tmp = tempDir('tds-settings-');
    const slow = { name: 'slow', accountId: 1, brokerHost: 'broker.lan', esp32: { bundlePath: '/opt/fw', wifiSsid: 'plant', baud: 57600 } };
    writeFileSync(path.join(tmp.path, 'settings.json'), JSON.stringify({ version: 1, stationId: 'bench-7', profiles: [slow] }));
    const [p] = (await new SettingsStore(tmp.path).load()).profiles;
    expect(p!.esp32).toEqual({ bundlePath: '/opt/fw', wifiSsid: 'plant', maxBaud: 115200, resetMode: 'auto', onlineTimeoutSec: 60 });
  });

  it('a damaged settings file is reported, not silently replaced', async () => {
    tmp = tempDir('tds-settings-');
    writeFileSync(path.join(tmp.path, 'settings.json'), '{"version":1,"stationId":42}');
    await expect(new SettingsStore(tmp.path).load()).rejects.toThrow(/damaged.*stationId/);
    expect(readFileSync(path.join(tmp.path, 'settings.json'), 'utf8')).toContain('42');
  });
});
