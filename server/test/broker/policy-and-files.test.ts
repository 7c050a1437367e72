/**
 * Pure parts of the broker side: topic policy, ACL and config rendering, CRL validation (checked
 * with the openssl CLI too), atomic publication that keeps owner and mode, reload targets.
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, chownSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { renderAcl } from '../../src/broker/acl.js';
import { writeFileAtomic } from '../../src/util/atomic-file.js';
import { validateCrl } from '../../src/broker/crl-check.js';
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
  it('refuses identities that could break the file or are not ours', () => {
    expect(() => renderAcl({ services: [{ kind: 'server', cn: 'tds-server-x\ntopic read #' }] })).toThrow(/refusing/);
    expect(() => renderAcl({ services: [{ kind: 'station', cn: 'tds-server-main' }] })).toThrow(/not a station/);
    expect(() => renderAcl({ services: [], quarantined: ['#'] })).toThrow(/refusing/);
  });
  it('mosquitto.conf follows DESIGN.md §5', () => {
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
