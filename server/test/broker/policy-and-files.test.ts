/**
 * Pure parts of the broker side: topic policy, ACL and config rendering, CRL validation (checked
 * with the openssl CLI too), atomic publication that keeps owner and mode, reload targets, and the
 * check that the broker could load its files before a reload.
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, chownSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { renderAcl } from '../../src/broker/acl.js';
import { writeFileAtomic } from '../../src/util/atomic-file.js';
import { validateCrl } from '../../src/broker/crl-check.js';
import { checkBrokerFiles, type BrokerUser } from '../../src/broker/load-check.js';
import { renderMosquittoConf } from '../../src/broker/mosquitto-conf.js';
import { filterCovers, TopicPolicy, topicMatches } from '../../src/broker/policy.js';
import { BrokerPublisher } from '../../src/broker/publisher.js';
import { parseReloadTarget } from '../../src/broker/reloader.js';
import { tempDir } from '../../../test/support/temp.js';
import { commandOutput, isRoot, requireTool } from '../../../test/support/tools.js';
import { makeCa, makeCrl, issue, type TestCa } from './support/pki.js';

const A = 'a4:cf:12:00:00:01';
const B = 'a4:cf:12:00:00:02';

describe('topic policy', () => {
  const p = new TopicPolicy();
  it('devices write only their own topics and read only their own commands', () => {
    for (const k of ['telemetry', 'status', 'logs', 'cert/csr', 'cert/ack']) {
      expect(p.mayPublish(A, `tds_new/devices/${A}/${k}`)).toBe(true);
      expect(p.mayPublish(A, `tds_new/devices/${B}/${k}`)).toBe(false);
    }
    expect(p.mayPublish(A, `tds_new/devices/${A}/commands`)).toBe(false);
    expect(p.maySubscribe(A, `tds_new/devices/${A}/commands`)).toBe(true);
    expect(p.maySubscribe(A, `tds_new/devices/${B}/commands`)).toBe(false);
    expect(p.maySubscribe(A, 'tds_new/devices/+/commands')).toBe(false);
    expect(p.maySubscribe(A, '#')).toBe(false);
    expect(p.mayReceive(A, `tds_new/devices/${B}/telemetry`)).toBe(false);
  });
  it('services: the server reads all and writes commands, a monitor only reads status/telemetry', () => {
    expect(p.maySubscribe('tds-server-main', 'tds_new/devices/#')).toBe(true);
    expect(p.mayPublish('tds-server-main', `tds_new/devices/${A}/commands`)).toBe(true);
    expect(p.mayPublish('tds-server-main', `tds_new/devices/${A}/telemetry`)).toBe(false);
    expect(p.maySubscribe('station-monitor-x', 'tds_new/devices/+/status')).toBe(true);
    expect(p.maySubscribe('station-monitor-x', 'tds_new/devices/#')).toBe(false);
    expect(p.mayPublish('station-monitor-x', `tds_new/devices/${A}/commands`)).toBe(false);
    expect(p.maySubscribe('someone-else', 'tds_new/devices/+/status')).toBe(false);
  });
  it('quarantine denies everything', () => {
    const q = new TopicPolicy();
    q.setQuarantined([A]);
    expect(q.mayPublish(A, `tds_new/devices/${A}/telemetry`)).toBe(false);
    expect(q.mayPublish(B, `tds_new/devices/${B}/telemetry`)).toBe(true);
  });
  it('filter matching and coverage follow MQTT wildcard rules', () => {
    expect(topicMatches('a/+/c', 'a/b/c')).toBe(true);
    expect(topicMatches('a/#', 'a')).toBe(true);
    expect(topicMatches('#', '$SYS/x')).toBe(false);
    expect(filterCovers('a/+/c', 'a/b/c')).toBe(true);
    expect(filterCovers('a/+/c', 'a/+/c')).toBe(true);
    expect(filterCovers('a/b/c', 'a/+/c')).toBe(false);
    expect(filterCovers('a/+/c', 'a/#')).toBe(false);
    expect(filterCovers('a/#', 'a/b/#')).toBe(true);
  });
});

describe('ACL and configuration', () => {
  it('renders device patterns, service blocks and deny entries; never "read #"', () => {
    const acl = renderAcl({
      services: [
        { kind: 'server', cn: 'tds-server-main' },
        { kind: 'station', cn: 'station-monitor-bench-1' },
      ],
      quarantined: [B],
    });
    expect(acl).toContain('pattern write tds_new/devices/%u/telemetry');
    expect(acl).toContain('pattern read tds_new/devices/%u/commands');
    expect(acl).toMatch(/user tds-server-main\ntopic read tds_new\/devices\/#\ntopic write tds_new\/devices\/\+\/commands/);
    expect(acl).toMatch(/user station-monitor-bench-1\ntopic read tds_new\/devices\/\+\/status\ntopic read tds_new\/devices\/\+\/telemetry/);
    expect(acl).toContain(`user ${B}\ntopic deny #`);
    expect(acl).not.toMatch(/^\s*pattern\s+read\s+#\s*$/m);
  });
  it('server identities may drive the dynamic-security plugin; only the named one gets the reload marker', () => {
    const marker = 'tds_new/broker/reload/0123456789abcdef';
    const acl = renderAcl({
      services: [
        { kind: 'server', cn: 'tds-server-main' },
        { kind: 'server', cn: 'tds-server-cli' },
        { kind: 'station', cn: 'station-monitor-bench-1' },
      ],
      reloadMarker: { cn: 'tds-server-main', topic: marker },
    });
    for (const cn of ['tds-server-main', 'tds-server-cli']) {
      expect(acl).toContain(`user ${cn}\ntopic read tds_new/devices/#\ntopic write tds_new/devices/+/commands\ntopic write $CONTROL/dynamic-security/v1\ntopic read $CONTROL/dynamic-security/v1/response\n`);
    }
    expect(acl.match(/^topic readwrite tds_new\/broker\/reload\/.*$/gm)).toEqual([`topic readwrite ${marker}`]);
    expect(acl).toContain(`user tds-server-main\ntopic read tds_new/devices/#\ntopic write tds_new/devices/+/commands\ntopic write $CONTROL/dynamic-security/v1\ntopic read $CONTROL/dynamic-security/v1/response\ntopic readwrite ${marker}\n`);
    expect(acl.split('user station-monitor-bench-1')[1]!.split('\n\n')[0]).not.toContain('$CONTROL');
    expect(() => renderAcl({ services: [{ kind: 'server', cn: 'tds-server-main' }], reloadMarker: { cn: 'tds-server-main', topic: 'tds_new/broker/reload/#' } })).toThrow(/marker/);
  });
  it('refuses identities that could break the file or are not ours', () => {
    expect(() => renderAcl({ services: [{ kind: 'server', cn: 'tds-server-x\ntopic read #' }] })).toThrow(/refusing/);
    expect(() => renderAcl({ services: [{ kind: 'station', cn: 'tds-server-main' }] })).toThrow(/not a station/);
    expect(() => renderAcl({ services: [], quarantined: ['#'] })).toThrow(/refusing/);
  });
  it('mosquitto.conf: mutual TLS, identity = CN, client id = CN, CRL, ACL', () => {
    const conf = renderMosquittoConf({ port: 8883, installDir: '/etc/mosquitto/tds' });
    for (const line of [
      'allow_anonymous false',
      'listener 8883',
      'require_certificate true',
      'use_identity_as_username true',
      'use_username_as_clientid true',
      'tls_version tlsv1.2',
      'crlfile /etc/mosquitto/tds/crl.pem',
      'acl_file /etc/mosquitto/tds/acl.conf',
      'cafile /etc/mosquitto/tds/ca.crt',
    ]) {
      expect(conf.split('\n')).toContain(line);
    }
    expect(() => renderMosquittoConf({ port: 8883, installDir: 'relative' })).toThrow(/absolute/);
    expect(conf).not.toMatch(/^plugin/m);
  });
  it('mosquitto.conf loads the dynamic-security plugin when asked', () => {
    const sessionControl = { plugin: '/usr/lib/x86_64-linux-gnu/mosquitto_dynamic_security.so', stateFile: '/var/lib/mosquitto/tds-dynamic-security.json' };
    const conf = renderMosquittoConf({ port: 8883, installDir: '/etc/mosquitto/tds', sessionControl }).split('\n');
    expect(conf).toContain(`plugin ${sessionControl.plugin}`);
    expect(conf).toContain(`plugin_opt_config_file ${sessionControl.stateFile}`);
    expect(() => renderMosquittoConf({ port: 8883, installDir: '/etc/mosquitto/tds', sessionControl: { ...sessionControl, stateFile: 'state.json' } })).toThrow(/absolute/);
  });
  it('reload targets parse strictly', () => {
    expect(parseReloadTarget('pidfile:/run/mosquitto/mosquitto.pid')).toEqual({ kind: 'pidfile', path: '/run/mosquitto/mosquitto.pid' });
    expect(parseReloadTarget('command:systemctl reload mosquitto')).toEqual({ kind: 'command', argv: ['systemctl', 'reload', 'mosquitto'] });
    expect(parseReloadTarget('pid:42')).toEqual({ kind: 'pid', pid: 42 });
    expect(() => parseReloadTarget('pidfile:relative.pid')).toThrow(/invalid broker reload/);
    expect(() => parseReloadTarget('sighup')).toThrow(/invalid broker reload/);
  });
});

describe('CRL validation and publication', () => {
  let ca: TestCa;
  let other: TestCa;
  const dir = tempDir('tds-crl-');
  beforeAll(async () => {
    ca = await makeCa();
    other = await makeCa('Other CA');
  });
  afterAll(() => dir.remove());

  it('accepts a good CRL, which openssl also verifies', async () => {
    const c = await issue(ca, { cn: A });
    const crl = await makeCrl(ca, { revoked: [c.serial] });
    const v = await validateCrl(crl, ca.certPem);
    expect(v.revokedSerials.has(c.serial.replace(/^0+/, ''))).toBe(true);
    const openssl = requireTool('openssl', 'openssl');
    writeFileSync(path.join(dir.path, 'ca.pem'), ca.certPem);
    writeFileSync(path.join(dir.path, 'crl.pem'), crl);
    const r = spawnSync(openssl, ['crl', '-in', path.join(dir.path, 'crl.pem'), '-noout', '-CAfile', path.join(dir.path, 'ca.pem')], {
      encoding: 'utf8',
    });
    expect(r.status).toBe(0);
    expect(r.stderr + r.stdout).toMatch(/verify OK/);
  });

  it('refuses what would make Mosquitto fail open or lock everyone out', async () => {
    await expect(validateCrl(await makeCrl(ca, { wrongLabel: true }), ca.certPem)).rejects.toThrow(/X509 CRL/);
    await expect(validateCrl('', ca.certPem)).rejects.toThrow(/exactly one/);
    await expect(validateCrl(await makeCrl(other), ca.certPem)).rejects.toThrow(/issuer|signature/);
    await expect(
      validateCrl(await makeCrl(ca, { thisUpdate: new Date(Date.now() - 9 * 86_400_000), nextUpdate: new Date(Date.now() - 1000) }), ca.certPem),
    ).rejects.toThrow(/nextUpdate/);
    const good = await makeCrl(ca);
    const corrupted = good.replace(/\n([A-Za-z0-9+/]{10})/, (_m, s: string) => `\n${s.split('').reverse().join('')}`);
    await expect(validateCrl(corrupted, ca.certPem)).rejects.toThrow();
  });

  it('publishes atomically, keeps owner and mode of the replaced file, and keeps the old CRL when the new one is bad', async () => {
    const good = await makeCrl(ca);
    let next = good;
    const publisher = new BrokerPublisher({
      dir: dir.path,
      state: { caPem: () => ca.certPem, crlPem: () => next, aclInput: () => ({ services: [] }) },
    });
    writeFileSync(path.join(dir.path, 'crl.pem'), 'old');
    chmodSync(path.join(dir.path, 'crl.pem'), 0o640);
    // As root (CI), give the file to the broker's group as an installed kit would be.
    const gid = isRoot() ? Number(commandOutput('id', ['-g', 'mosquitto']).trim()) : statSync(path.join(dir.path, 'crl.pem')).gid;
    if (isRoot()) chownSync(path.join(dir.path, 'crl.pem'), 0, gid);
    await publisher.publish();
    expect(statSync(path.join(dir.path, 'crl.pem')).gid).toBe(gid);
    expect(readFileSync(path.join(dir.path, 'crl.pem'), 'utf8').trim()).toBe(good.trim());
    expect(statSync(path.join(dir.path, 'crl.pem')).mode & 0o777).toBe(0o640);
    next = await makeCrl(ca, { wrongLabel: true });
    await expect(publisher.publish()).rejects.toThrow(/keeps the previous one/);
    expect(readFileSync(path.join(dir.path, 'crl.pem'), 'utf8').trim()).toBe(good.trim());
  });

  it('coalesces a burst of publications into at most one extra run', async () => {
    let reads = 0;
    const crl = await makeCrl(ca);
    const publisher = new BrokerPublisher({
      dir: dir.path,
      state: {
        caPem: () => ca.certPem,
        crlPem: async () => {
          reads++;
          await new Promise((r) => setTimeout(r, 50));
          return crl;
        },
        aclInput: () => ({ services: [] }),
      },
    });
    await Promise.all(Array.from({ length: 10 }, () => publisher.publish()));
    expect(reads).toBe(2);
  });

  it('atomic write of a new file uses the requested mode', async () => {
    const f = path.join(dir.path, 'new.key');
    await writeFileAtomic(f, 'secret', { mode: 0o600 });
    expect(statSync(f).mode & 0o777).toBe(0o600);
  });
});

describe('could the broker load its files? (checked before every reload)', () => {
  const dir = tempDir('tds-load-check-');
  let files: { ca: string; cert: string; key: string; otherKey: string; crl: string };
  const stranger: BrokerUser = { uid: 54_321, gids: [54_321], source: 'user stranger' };
  beforeAll(async () => {
    const ca = await makeCa();
    const broker = await issue(ca, { cn: 'tds-broker', kind: 'server' });
    const other = await issue(ca, { cn: 'tds-broker', kind: 'server' });
    const f = (name: string, data: string, mode: number): string => {
      const p = path.join(dir.path, name);
      writeFileSync(p, data, { mode });
      chmodSync(p, mode);
      return p;
    };
    files = {
      ca: f('ca.crt', ca.certPem, 0o644),
      cert: f('broker.crt', broker.certPem, 0o644),
      key: f('broker.key', broker.keyPem, 0o644),
      otherKey: f('other.key', other.keyPem, 0o644),
      crl: f('crl.pem', await makeCrl(ca), 0o644),
    };
    chmodSync(dir.path, 0o755);
  });
  afterAll(() => dir.remove());
  const set = (o: Partial<typeof files> = {}) => {
    const x = { ...files, ...o };
    return { ca: { name: x.ca }, cert: { name: x.cert }, key: { name: x.key }, crl: { name: x.crl } };
  };

  it('passes a readable, matching set', async () => {
    await expect(checkBrokerFiles(set(), stranger)).resolves.toBeUndefined();
  });
  it('names a file the broker user cannot read, and a folder it cannot enter', async () => {
    chmodSync(files.key, 0o600);
    try {
      await expect(checkBrokerFiles(set(), stranger)).rejects.toThrow(/broker reload refused.*broker\.key is not readable by the broker \(user stranger, uid 54321\).*mode 0600/);
      // The owner itself may read it.
      const me = statSync(files.key);
      await expect(checkBrokerFiles(set(), { uid: me.uid === 0 ? 1 : me.uid, gids: [me.gid], source: 'owner' })).rejects.toThrow(/not readable/);
    } finally {
      chmodSync(files.key, 0o644);
    }
    const sub = path.join(dir.path, 'closed');
    mkdirSync(sub, { mode: 0o700 });
    chmodSync(sub, 0o700);
    writeFileSync(path.join(sub, 'ca.crt'), readFileSync(files.ca));
    await expect(checkBrokerFiles(set({ ca: path.join(sub, 'ca.crt') }), stranger)).rejects.toThrow(/cannot enter .*closed/);
  });
  it('refuses a key that is not the certificate\'s, garbage, and a bad CRL', async () => {
    await expect(checkBrokerFiles(set({ key: files.otherKey }), stranger)).rejects.toThrow(/does not belong to/);
    const garbage = path.join(dir.path, 'garbage.key');
    writeFileSync(garbage, 'not a key', { mode: 0o644 });
    await expect(checkBrokerFiles(set({ key: garbage }), undefined)).rejects.toThrow(/not a private key/);
    const badCrl = path.join(dir.path, 'bad-crl.pem');
    writeFileSync(badCrl, '', { mode: 0o644 });
    await expect(checkBrokerFiles(set({ crl: badCrl }), undefined)).rejects.toThrow(/bad-crl\.pem/);
  });
});

describe('live-session cut-off bookkeeping (publisher, with a test double of the broker control)', () => {
  const dir = tempDir('tds-cutoff-');
  afterAll(() => dir.remove());

  it('an identity whose session could not be disconnected stays denied, across re-provisioning and CLI publications, until it is', async () => {
    const ca = await makeCa();
    const a1 = await issue(ca, { cn: A });
    const revoked = new Map<string, string>(); // serial -> CN
    const quarantined = new Set<string>();
    const state = {
      caPem: () => ca.certPem,
      crlPem: () => makeCrl(ca, { revoked: [...revoked.keys()] }),
      aclInput: () => ({ services: [{ kind: 'server' as const, cn: 'tds-server-main' }], quarantined: [...quarantined] }),
      commonNamesOf: (serials: readonly string[]) => serials.map((s) => [...revoked].find(([k]) => k.replace(/^0+/, '') === s)?.[1]).filter((x): x is string => !!x),
    };
    let saved: string[] = [];
    const cutoffs = { load: async () => [...saved], save: async (cns: readonly string[]) => void (saved = [...cns]) };
    let brokerAnswers = false;
    const disconnected: string[][] = [];
    const sessions = {
      cn: 'tds-server-main',
      newMarker: () => 'tds_new/broker/reload/00112233445566778899aabb',
      awaitMarker: async () => undefined,
      disconnect: async (cns: readonly string[]) => {
        if (!brokerAnswers) throw new Error('no answer from the plugin');
        disconnected.push([...cns]);
      },
    };
    const reload = { kind: 'command' as const, argv: ['true'] };
    chmodSync(dir.path, 0o755); // checked before every reload: the broker's user must reach the files
    const server = new BrokerPublisher({ dir: dir.path, reload, state, sessions, cutoffs });
    const acl = (): string => readFileSync(path.join(dir.path, 'acl.conf'), 'utf8');
    await server.prime();

    // Revoked; the broker does not answer: A is denied everything, and that is remembered.
    revoked.set(a1.serial, A);
    quarantined.add(A);
    await server.publish();
    expect(acl()).toContain(`user ${A}\ntopic deny #`);
    expect(saved).toEqual([A]);
    // A gets a new certificate: still denied while the old session may be connected.
    quarantined.delete(A);
    await server.publish();
    expect(acl()).toContain(`user ${A}\ntopic deny #`);
    // The CLI (no broker control) publishing meanwhile keeps the deny too.
    await new BrokerPublisher({ dir: dir.path, reload, state, cutoffs }).publish();
    expect(acl()).toContain(`user ${A}\ntopic deny #`);
    // The broker answers again (retry on reconnect or the next publication): disconnected, deny lifted.
    brokerAnswers = true;
    await server.publish();
    expect(disconnected).toEqual([[A]]);
    expect(acl()).not.toContain(`user ${A}\n`);
    expect(saved).toEqual([]);
    expect(server.pendingCutoffs).toEqual([]);
  });

  it('a kit without the dynamic-security plugin: no cut is attempted, nothing is left denied, and the log says to rebuild the kit', async () => {
    const ca = await makeCa();
    const a1 = await issue(ca, { cn: A });
    const revoked: string[] = [];
    const lines: string[] = [];
    let attempts = 0;
    const publisher = new BrokerPublisher({
      target: async () => ({ dir: dir.path, reload: { kind: 'none' }, sessionControl: false }),
      state: { caPem: () => ca.certPem, crlPem: () => makeCrl(ca, { revoked }), aclInput: () => ({ services: [] }), commonNamesOf: () => [A] },
      sessions: {
        cn: 'tds-server-main',
        newMarker: () => 'tds_new/broker/reload/00112233445566778899aabb',
        awaitMarker: async () => void attempts++,
        disconnect: async () => void attempts++,
      },
      cutoffs: { load: async () => [], save: async () => void attempts++ },
      log: (l) => lines.push(l),
    });
    await publisher.prime();
    revoked.push(a1.serial);
    await publisher.publish();
    expect(attempts).toBe(0);
    expect(publisher.pendingCutoffs).toEqual([]);
    expect(readFileSync(path.join(dir.path, 'acl.conf'), 'utf8')).not.toContain(`user ${A}`);
    expect(lines.join('\n')).toMatch(/NOT disconnected: the broker kit has no dynamic-security plugin; rebuild it/);
  });
});
