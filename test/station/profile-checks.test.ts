import { readFileSync, writeFileSync } from 'node:fs';
import { userInfo } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkBrokerAnswers } from '../../src/main/station/broker-check.js';
import { dispatch } from '../../src/main/station/dispatch.js';
import type { StationService } from '../../src/main/station/service.js';
import { stationAddresses } from '../../src/main/station/station-addresses.js';
import type { IpcErrorBody } from '../../src/shared/ipc-errors.js';
import { makePki } from '../firmware/openssl-pki.js';
import { startMosquitto, type RunningMosquitto } from '../support/mosquitto.js';
import { freePort } from '../support/ports.js';
import { tempDir } from '../support/temp.js';
import { startCoreInProcess } from './renderer-build.js';

const BUNDLE_DIR = path.resolve(import.meta.dirname, '../fixtures/bundle-arduino');

// Profiles that cannot work are refused by the core when saved (a real Mosquitto answers TLS on one
// port and plain MQTT on another); an admin PIN locks the profiles; the station offers its LAN
// addresses for the devices.
describe('profile checks on save, profile lock, station addresses', () => {
  const tmp = tempDir('tds-profile-checks-');
  let broker: RunningMosquitto;
  let tlsPort: number;
  let plainPort: number;
  let st: StationService;

  beforeAll(async () => {
    const pki = makePki(tmp.path);
    tlsPort = await freePort();
    plainPort = await freePort();
    const conf = path.join(tmp.path, 'mosquitto.conf');
    writeFileSync(
      conf,
      [
        // Mosquitto started as root drops to its own user, which cannot read this test's 0700 folder.
        `user ${userInfo().username}`,
        'log_dest stderr',
        'log_type all',
        'persistence false',
        'per_listener_settings true',
        `listener ${tlsPort} 127.0.0.1`,
        `cafile ${pki.caFile}`,
        `certfile ${pki.brokerCert}`,
        `keyfile ${pki.brokerKey}`,
        'require_certificate true',
        'allow_anonymous true',
        `listener ${plainPort} 127.0.0.1`,
        'allow_anonymous true',
        '',
      ].join('\n'),
    );
    broker = await startMosquitto(conf);
    st = await startCoreInProcess(path.join(tmp.path, 'station'));
  }, 60_000);

  afterAll(async () => {
    await st?.close();
    await broker?.stop();
    tmp.remove();
  });

  const call = async (ch: string, p: unknown): Promise<{ ok: true; value: unknown } | { ok: false; error: IpcErrorBody }> =>
    (await dispatch(st.handlers, ch, p, () => undefined)) as { ok: true; value: unknown } | { ok: false; error: IpcErrorBody };
  const issues = (r: Awaited<ReturnType<typeof call>>) => (r.ok ? [] : (r.error.issues ?? []).map((i) => [i.field, i.key]));

  it('says whether a broker answers TLS: a mutual-TLS broker does, a plain MQTT port and a closed port do not', async () => {
    expect(await checkBrokerAnswers('127.0.0.1', tlsPort)).toMatchObject({ ok: true });
    expect(await checkBrokerAnswers('127.0.0.1', plainPort)).toEqual({ ok: false, reason: expect.stringMatching(/not with TLS|without TLS/) });
    expect(await checkBrokerAnswers('127.0.0.1', await freePort())).toEqual({ ok: false, reason: 'connection refused' });
    expect(await call('profiles.testBroker', { host: '127.0.0.1', port: tlsPort })).toMatchObject({ ok: true, value: { detail: expect.stringContaining(`127.0.0.1:${tlsPort} answers`) } });
    const closed = await call('profiles.testBroker', { host: '127.0.0.1', port: plainPort });
    expect(issues(closed)).toEqual([['brokerHost', 'brokerUnreachable']]);
  });

  it('refuses a profile that cannot work, every problem under its field, and saves it once fixed', async () => {
    const bad = await call('profiles.save', {
      profile: { name: 'line 1', accountId: 1, codeTemplate: 'GW-FIXED', brokerHost: '127.0.0.1', brokerPort: plainPort, esp32: { bundlePath: path.join(tmp.path, 'no-such-bundle'), wifiSsid: 'plant' } },
    });
    // The form's own schema already refuses a template without a per-device part.
    expect(issues(bad)).toEqual([['profile.codeTemplate', 'templateUnique']]);

    const r = await call('profiles.save', {
      profile: { name: 'line 1', accountId: 1, brokerHost: '127.0.0.1', brokerPort: plainPort, esp32: { bundlePath: path.join(tmp.path, 'no-such-bundle'), wifiSsid: 'plant' } },
    });
    expect(r.ok).toBe(false);
    expect(issues(r)).toEqual([
      ['profile.brokerHost', 'brokerUnreachable'],
      ['profile.esp32.bundlePath', 'bundleMissing'],
      ['profile.esp32.wifiPassword', 'wifiPasswordNeeded'],
    ]);
    // A folder that is there but holds no bundle says what is wrong with it.
    const notBundle = await call('profiles.save', {
      profile: { name: 'line 1', accountId: 1, brokerHost: '127.0.0.1', brokerPort: tlsPort, esp32: { bundlePath: tmp.path, wifiSsid: 'plant', wifiPassword: 'plant-pass-1' } },
    });
    expect(issues(notBundle)).toEqual([['profile.esp32.bundlePath', 'bundleUnreadable']]);
    expect(notBundle.ok ? '' : notBundle.error.issues![0]!.params?.reason).toMatch(/manifest/i);
    expect(await call('profiles.list', undefined)).toEqual({ ok: true, value: [] });

    const good = await call('profiles.save', {
      profile: { name: 'line 1', accountId: 1, brokerHost: '127.0.0.1', brokerPort: tlsPort, esp32: { bundlePath: BUNDLE_DIR, wifiSsid: 'plant', wifiPassword: 'plant-pass-1' } },
    });
    expect(good).toMatchObject({ ok: true, value: { name: 'line 1', esp32: { hasWifiPassword: true } } });
    // Saved again without typing the password: the stored one counts.
    expect((await call('profiles.save', { previousName: 'line 1', profile: { name: 'line 1', accountId: 1, brokerHost: '127.0.0.1', brokerPort: tlsPort, esp32: { bundlePath: BUNDLE_DIR, wifiSsid: 'plant' } } })).ok).toBe(true);
    // An open network is fine when marked so; its stored password is dropped.
    const open = await call('profiles.save', {
      previousName: 'line 1',
      profile: { name: 'line 1', accountId: 1, brokerHost: '127.0.0.1', brokerPort: tlsPort, esp32: { bundlePath: BUNDLE_DIR, wifiSsid: 'guest', wifiOpen: true } },
    });
    expect(open).toMatchObject({ ok: true, value: { esp32: { wifiOpen: true, hasWifiPassword: false } } });
  });

  it('an admin PIN locks the profiles: operators cannot save or delete them; wrong PINs are refused, then slowed down', async () => {
    expect(issues(await call('profiles.setLock', { locked: true, pin: '12' }))).toEqual([['pin', 'pin']]);
    const locked = await call('profiles.setLock', { locked: true, pin: '246810' });
    expect(locked).toMatchObject({ ok: true, value: { profileLock: { locked: true, pinSet: true } } });
    const profile = { name: 'line 1', accountId: 1, brokerHost: '127.0.0.1', brokerPort: tlsPort, esp32: { bundlePath: BUNDLE_DIR, wifiSsid: 'guest', wifiOpen: true } };
    expect(await call('profiles.save', { previousName: 'line 1', profile })).toMatchObject({ ok: false, error: { code: 'FORBIDDEN' } });
    expect(await call('profiles.delete', { name: 'line 1' })).toMatchObject({ ok: false, error: { code: 'FORBIDDEN' } });
    expect(issues(await call('profiles.setLock', { locked: false, pin: '111111' }))).toEqual([['pin', 'pinWrong']]);
    expect(await call('profiles.setLock', { locked: false, pin: '246810' })).toMatchObject({ ok: true, value: { profileLock: { locked: false } } });
    expect((await call('profiles.save', { previousName: 'line 1', profile })).ok).toBe(true);
    // The PIN is kept only as a salted hash.
    const secrets = readFileSync(path.join(tmp.path, 'station', 'secrets.json'), 'utf8');
    expect(secrets).toContain('scrypt$');
    expect(secrets).not.toContain('246810');
    expect(readFileSync(path.join(tmp.path, 'station', 'settings.json'), 'utf8')).not.toContain('246810');

    await call('profiles.setLock', { locked: true, pin: '246810' });
    for (let i = 0; i < 5; i++) expect(issues(await call('profiles.setLock', { locked: false, pin: '000000' }))).toEqual([['pin', 'pinWrong']]);
    // After five wrong PINs even the right one waits.
    expect(issues(await call('profiles.setLock', { locked: false, pin: '246810' }))).toEqual([['pin', 'pinLater']]);
    expect(await call('settings.get', undefined)).toMatchObject({ ok: true, value: { profileLock: { locked: true } } });
  });

  it('offers this machine’s addresses for the devices, LAN first and loopback last', async () => {
    const r = await call('station.addresses', undefined);
    expect(r.ok).toBe(true);
    const list = (r as { value: ReturnType<typeof stationAddresses> }).value;
    expect(list.find((a) => a.address === '127.0.0.1')).toMatchObject({ loopback: true, family: 'IPv4' });
    expect(list.findIndex((a) => a.loopback)).toBe(list.length - list.filter((a) => a.loopback).length);
    const ordered = stationAddresses({
      lo: [{ address: '127.0.0.1', family: 'IPv4', internal: true, netmask: '255.0.0.0', mac: '00:00:00:00:00:00', cidr: '127.0.0.1/8' }],
      eth0: [
        { address: 'fe80::1', family: 'IPv6', internal: false, netmask: 'ffff:ffff:ffff:ffff::', mac: 'aa:bb:cc:dd:ee:ff', cidr: 'fe80::1/64', scopeid: 2 },
        { address: '2001:db8::5', family: 'IPv6', internal: false, netmask: 'ffff:ffff:ffff:ffff::', mac: 'aa:bb:cc:dd:ee:ff', cidr: '2001:db8::5/64', scopeid: 0 },
        { address: '192.168.10.5', family: 'IPv4', internal: false, netmask: '255.255.255.0', mac: 'aa:bb:cc:dd:ee:ff', cidr: '192.168.10.5/24' },
      ],
    });
    expect(ordered.map((a) => a.address)).toEqual(['192.168.10.5', '2001:db8::5', '127.0.0.1']);
  });
});
