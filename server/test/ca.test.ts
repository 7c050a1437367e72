import { readFileSync, statSync } from 'node:fs';
import { webcrypto } from 'node:crypto';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import 'reflect-metadata';
import * as x509 from '@peculiar/x509';
import {
  CertificateAuthority,
  CsrError,
  IdentityError,
  CaImportError,
  WrongPassphraseError,
  createDeviceCsr,
  loadCa,
  saveCa,
  type DeviceProfileSettings,
} from '@tds/server';
import { tempDir } from '../../test/support/temp.js';
import { OpenSsl, extensionBlock } from './support/openssl.js';

const profile: DeviceProfileSettings = {
  subject: { country: 'BR', state: 'SP', locality: 'Sao Paulo', organization: 'TDS IoT' },
  domain: 'tds.com.br',
  validityDays: 3652,
};

const work = tempDir('tds-ca-test-');
const ossl = new OpenSsl(work.path);
afterAll(() => work.remove());

for (const caKeyType of ['ec', 'rsa'] as const) {
  describe(`CA with ${caKeyType.toUpperCase()} key: every certificate kind, checked with openssl`, () => {
    let ca: CertificateAuthority;
    let caSki: string;

    beforeAll(async () => {
      ca = (await CertificateAuthority.generate({ keyType: caKeyType })).authority;
      const text = await ossl.text(ca.certificatePem);
      caSki = extensionBlock(text, 'Subject Key Identifier')!.value;
    });

    it('the CA itself: self-signed, CA:TRUE pathlen 0, keyCertSign+cRLSign, 20 years', async () => {
      const text = await ossl.text(ca.certificatePem);
      expect(extensionBlock(text, 'Basic Constraints')).toEqual({ critical: true, value: 'CA:TRUE, pathlen:0' });
      expect(extensionBlock(text, 'Key Usage')).toEqual({ critical: true, value: 'Certificate Sign, CRL Sign' });
      expect(text).toContain(caKeyType === 'ec' ? 'ecdsa-with-SHA256' : 'sha256WithRSAEncryption');
      const years = (ca.notAfter.getTime() - Date.now()) / (365.25 * 86_400_000);
      expect(years).toBeGreaterThan(19.9);
      expect(years).toBeLessThan(20.1);
      expect((await ossl.verify(ca.certificatePem, ca.certificatePem)).ok).toBe(true);
    });

    it('device certificate from an openssl-made EC CSR has exactly the device profile', async () => {
      const key = path.join(work.path, `dev-${caKeyType}.key`);
      const csrFile = path.join(work.path, `dev-${caKeyType}.csr`);
      const r = await ossl.run(['req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-subj', '/CN=a4:cf:12:00:00:01', '-keyout', key, '-out', csrFile]);
      expect(r.code, r.output).toBe(0);
      const cert = await ca.issueDeviceFromCsr({ mac: 'a4:cf:12:00:00:01', csrPem: readFileSync(csrFile, 'utf8'), profile });
      expect((await ossl.verify(ca.certificatePem, cert.pem)).ok).toBe(true);
      const text = await ossl.text(cert.pem);
      expect(text).toMatch(/Subject: C ?= ?BR, ST ?= ?SP, L ?= ?Sao Paulo, O ?= ?TDS IoT, CN ?= ?a4:cf:12:00:00:01/);
      expect(extensionBlock(text, 'Basic Constraints')).toEqual({ critical: true, value: 'CA:FALSE' });
      expect(extensionBlock(text, 'Key Usage')).toEqual({ critical: true, value: 'Digital Signature' });
      expect(extensionBlock(text, 'Extended Key Usage')).toEqual({ critical: true, value: 'TLS Web Client Authentication' });
      expect(extensionBlock(text, 'Subject Alternative Name')).toEqual({ critical: false, value: 'DNS:a4cf12000001.devices.tds.com.br' });
      expect(extensionBlock(text, 'Authority Key Identifier')!.value).toContain(caSki);
      expect(extensionBlock(text, 'Subject Key Identifier')).toBeDefined();
      // The certified key is the CSR's key.
      const fromCert = await ossl.run(['x509', '-noout', '-pubkey', '-in', ossl.file(cert.pem)]);
      const fromKey = await ossl.run(['pkey', '-pubout', '-in', key]);
      expect(fromCert.stdout).toBe(fromKey.stdout);
      // ≥ 64 bits of randomness in a positive serial; 10-year validity from the profile.
      expect(cert.serialNumber).toMatch(/^[0-7][0-9A-F]{31}$/);
      const days = (cert.notAfter.getTime() - Date.now()) / 86_400_000;
      expect(Math.round(days)).toBe(3652);
    });

    it('device certificate for an RSA-2048 CSR adds keyEncipherment', async () => {
      const { csrPem } = await createDeviceCsr({ mac: 'a4:cf:12:00:00:02', keyType: 'rsa' });
      const cert = await ca.issueDeviceFromCsr({ mac: 'a4:cf:12:00:00:02', csrPem, profile });
      expect((await ossl.verify(ca.certificatePem, cert.pem)).ok).toBe(true);
      const text = await ossl.text(cert.pem);
      expect(extensionBlock(text, 'Key Usage')).toEqual({ critical: true, value: 'Digital Signature, Key Encipherment' });
      expect(text).toContain('Public-Key: (2048 bit)');
    });

    it('server-made device keys (EC and RSA-2048) match their certificates', async () => {
      for (const keyType of ['ec', 'rsa'] as const) {
        const cert = await ca.issueDeviceWithNewKey({ mac: 'a4:cf:12:00:00:03', keyType, profile });
        expect(cert.privateKeyPem).toMatch(/^-----BEGIN PRIVATE KEY-----/);
        expect((await ossl.verify(ca.certificatePem, cert.pem)).ok).toBe(true);
        const fromCert = await ossl.run(['x509', '-noout', '-pubkey', '-in', ossl.file(cert.pem)]);
        const fromKey = await ossl.run(['pkey', '-pubout', '-in', ossl.file(cert.privateKeyPem!)]);
        expect(fromCert.stdout).toBe(fromKey.stdout);
      }
    });

    it('service identities: tds-server-<name> and station-monitor-<name>, clientAuth, no SAN', async () => {
      for (const kind of ['server', 'station'] as const) {
        const cert = await ca.issueServiceCertificate({ kind, name: 'bench-1' });
        expect((await ossl.verify(ca.certificatePem, cert.pem)).ok).toBe(true);
        const text = await ossl.text(cert.pem);
        expect(text).toMatch(new RegExp(`CN ?= ?${kind === 'server' ? 'tds-server-bench-1' : 'station-monitor-bench-1'}`));
        expect(extensionBlock(text, 'Extended Key Usage')).toEqual({ critical: true, value: 'TLS Web Client Authentication' });
        expect(extensionBlock(text, 'Basic Constraints')).toEqual({ critical: true, value: 'CA:FALSE' });
        expect(extensionBlock(text, 'Subject Alternative Name')).toBeUndefined();
      }
      // With a caller-supplied public key, no key is returned.
      const { publicKey } = await webcrypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, true, ['sign', 'verify']);
      const spki = Buffer.from(await webcrypto.subtle.exportKey('spki', publicKey));
      const pem = x509.PemConverter.encode(spki, 'PUBLIC KEY');
      const cert = await ca.issueServiceCertificate({ kind: 'station', name: 'laptop-7', publicKey: pem });
      expect(cert.privateKeyPem).toBeUndefined();
      expect((await ossl.verify(ca.certificatePem, cert.pem)).ok).toBe(true);
    });

    it('broker certificate: serverAuth with every host name and IP in the SAN', async () => {
      const cert = await ca.issueBrokerCertificate({ hostnames: ['mqtt.tds.local', 'localhost'], ips: ['127.0.0.1', '::1'] });
      expect((await ossl.verify(ca.certificatePem, cert.pem)).ok).toBe(true);
      const text = await ossl.text(cert.pem);
      expect(extensionBlock(text, 'Extended Key Usage')).toEqual({ critical: true, value: 'TLS Web Server Authentication' });
      expect(extensionBlock(text, 'Subject Alternative Name')!.value).toBe(
        'DNS:mqtt.tds.local, DNS:localhost, IP Address:127.0.0.1, IP Address:0:0:0:0:0:0:0:1',
      );
      const check = await ossl.run(['x509', '-noout', '-checkhost', 'mqtt.tds.local', '-checkip', '::1', '-in', ossl.file(cert.pem)]);
      expect(check.stdout).toMatch(/Hostname mqtt.tds.local does match/);
      expect(check.stdout).toMatch(/IP ::1 does match/);
    });

    it('CRL v2: -crl_check passes before revocation and fails after; CRL Number and reason present', async () => {
      const { csrPem } = await createDeviceCsr({ mac: 'a4:cf:12:00:00:04' });
      const device = await ca.issueDeviceFromCsr({ mac: 'a4:cf:12:00:00:04', csrPem, profile });
      const service = await ca.issueServiceCertificate({ kind: 'station', name: 'desk-2' });
      const now = new Date();
      const week = new Date(now.getTime() + 7 * 86_400_000);
      const empty = await ca.signCrl({ crlNumber: 1, entries: [], thisUpdate: now, nextUpdate: week });
      expect(empty.startsWith('-----BEGIN X509 CRL-----')).toBe(true);
      expect((await ossl.verify(ca.certificatePem, device.pem, empty)).ok).toBe(true);
      expect((await ossl.verify(ca.certificatePem, service.pem, empty)).ok).toBe(true);

      const crl = await ca.signCrl({
        crlNumber: 2,
        entries: [
          { serialNumber: device.serialNumber, revokedAt: now, reason: 'keyCompromise' },
          { serialNumber: service.serialNumber, revokedAt: now, reason: 'unspecified' },
        ],
        thisUpdate: now,
        nextUpdate: week,
      });
      const after = await ossl.verify(ca.certificatePem, device.pem, crl);
      expect(after.ok).toBe(false);
      expect(after.output).toMatch(/certificate revoked/);
      expect((await ossl.verify(ca.certificatePem, service.pem, crl)).ok).toBe(false);
      const { ok, text } = await ossl.crlText(crl, ca.certificatePem);
      expect(ok).toBe(true);
      expect(text).toMatch(/Version 2/);
      expect(text).toMatch(/X509v3 CRL Number:\s*\n\s*2/);
      expect(text).toContain('Key Compromise');
      expect(text).toContain(`Serial Number: ${device.serialNumber}`);
    });
  });
}

describe('the CA refuses identities that are not theirs', () => {
  let ca: CertificateAuthority;
  beforeAll(async () => {
    ca = (await CertificateAuthority.generate()).authority;
  });

  it('never issues a MAC-shaped CN to a service or a service-shaped CN to a device', async () => {
    await expect(ca.issueServiceCertificate({ kind: 'station', name: 'aabbccddeeff' })).rejects.toThrow(IdentityError);
    await expect(ca.issueServiceCertificate({ kind: 'server', name: 'aa:bb:cc:dd:ee:ff' })).rejects.toThrow(IdentityError);
    await expect(ca.issueServiceCertificate({ kind: 'server', name: 'Bad Name' })).rejects.toThrow(/not a valid service name/);
    const { csrPem } = await createDeviceCsr({ mac: 'aa:bb:cc:00:00:01', commonName: 'station-monitor-x' });
    const spki = Buffer.from(new x509.Pkcs10CertificateRequest(csrPem).publicKey.rawData);
    await expect(ca.issueDevice({ mac: 'station-monitor-x', spkiDer: spki, profile })).rejects.toThrow(IdentityError);
    await expect(ca.issueDevice({ mac: 'AA:BB:CC:00:00:01', spkiDer: spki, profile })).rejects.toThrow(/canonical device MAC/);
    await expect(ca.issueDeviceFromCsr({ mac: 'aa:bb:cc:00:00:01', csrPem, profile })).rejects.toThrow(/CSR CN 'station-monitor-x' is not the MAC/);
    await expect(ca.issueBrokerCertificate({ hostnames: ['tds-server-main'] })).rejects.toThrow(IdentityError);
    await expect(ca.issueBrokerCertificate({ hostnames: ['aa:bb:cc:dd:ee:fe'] })).rejects.toThrow(IdentityError);
  });

  it('rejects CSRs: bad signature, CN not the MAC, two CNs, CA:true requested', async () => {
    const mac = 'aa:bb:cc:00:00:02';
    const good = await createDeviceCsr({ mac });
    // Flip one byte of the signature.
    const der = x509.PemConverter.decodeFirst(good.csrPem);
    const bytes = Buffer.from(der);
    bytes[bytes.length - 2] = bytes[bytes.length - 2]! ^ 0x55;
    const tampered = x509.PemConverter.encode(bytes, 'CERTIFICATE REQUEST');
    await expect(ca.issueDeviceFromCsr({ mac, csrPem: tampered, profile })).rejects.toThrow(CsrError);
    await expect(ca.issueDeviceFromCsr({ mac, csrPem: tampered, profile })).rejects.toThrow(/signature does not verify/);

    await expect(ca.issueDeviceFromCsr({ mac: 'aa:bb:cc:00:00:03', csrPem: good.csrPem, profile })).rejects.toThrow(/is not the MAC being provisioned/);
    // Accepted spellings of the same MAC are fine; the certificate carries the canonical form.
    const upper = await createDeviceCsr({ mac, commonName: 'AABBCC000002' });
    expect((await ca.issueDeviceFromCsr({ mac, csrPem: upper.csrPem, profile })).commonName).toBe(mac);

    const alg = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' };
    const keys = (await webcrypto.subtle.generateKey(alg, true, ['sign', 'verify'])) as CryptoKeyPair;
    const twoCn = await x509.Pkcs10CertificateRequestGenerator.create({ name: [{ CN: [mac] }, { CN: ['other'] }], keys, signingAlgorithm: alg });
    await expect(ca.issueDeviceFromCsr({ mac, csrPem: twoCn.toString('pem'), profile })).rejects.toThrow(/exactly one CN/);
    const wantsCa = await x509.Pkcs10CertificateRequestGenerator.create({
      name: [{ CN: [mac] }],
      keys,
      signingAlgorithm: alg,
      extensions: [new x509.BasicConstraintsExtension(true, undefined, true)],
    });
    await expect(ca.issueDeviceFromCsr({ mac, csrPem: wantsCa.toString('pem'), profile })).rejects.toThrow(/requests CA:true/);
    await expect(ca.issueDeviceFromCsr({ mac, csrPem: 'not a csr', profile })).rejects.toThrow(/not a PEM "CERTIFICATE REQUEST"/);
  });

  it('serials are unique across many issuances', async () => {
    const { csrPem } = await createDeviceCsr({ mac: 'aa:bb:cc:00:00:09' });
    const serials = new Set<string>();
    for (let i = 0; i < 2000; i++) serials.add((await ca.issueDeviceFromCsr({ mac: 'aa:bb:cc:00:00:09', csrPem, profile })).serialNumber);
    expect(serials.size).toBe(2000);
  });
});

describe('CA key at rest and import', () => {
  it('is sealed with the passphrase (0600), unreadable with a wrong one', async () => {
    const dir = tempDir('tds-ca-store-');
    try {
      const { authority, pkcs8Der } = await CertificateAuthority.generate();
      const keyB64 = pkcs8Der.toString('base64');
      await saveCa(dir.path, authority, pkcs8Der, 'a long enough passphrase');
      const sealedFile = path.join(dir.path, 'ca.key.enc');
      expect(statSync(sealedFile).mode & 0o777).toBe(0o600);
      const sealed = readFileSync(sealedFile, 'utf8');
      expect(sealed).not.toContain(keyB64.slice(0, 40));
      expect(JSON.parse(sealed)).toMatchObject({ kdf: 'scrypt', N: 131072, cipher: 'aes-256-gcm' });
      const loaded = await loadCa(dir.path, 'a long enough passphrase');
      expect(loaded.certificatePem).toBe(authority.certificatePem);
      await expect(loadCa(dir.path, 'the wrong passphrase')).rejects.toThrow(WrongPassphraseError);
      await expect(saveCa(dir.path, authority, pkcs8Der, 'short')).rejects.toThrow(/at least 12 characters/);
    } finally {
      dir.remove();
    }
  });

  it('imports an openssl-made CA with an encrypted key, and refuses non-CAs and mismatched keys', async () => {
    const key = path.join(work.path, 'imp.key');
    const cert = path.join(work.path, 'imp.crt');
    const pass = ossl.file('import-pass-123\n', 'pass');
    expect((await ossl.run(['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-aes256', '-pass', `file:${pass}`, '-out', key])).code).toBe(0);
    const req = await ossl.run([
      'req', '-x509', '-new', '-key', key, '-passin', `file:${pass}`, '-subj', '/C=BR/O=Imported/CN=Imported CA', '-days', '3650',
      '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign', '-out', cert,
    ]);
    expect(req.code, req.output).toBe(0);
    await expect(CertificateAuthority.import(readFileSync(cert, 'utf8'), readFileSync(key, 'utf8'))).rejects.toThrow(/encrypted/);
    const { authority } = await CertificateAuthority.import(readFileSync(cert, 'utf8'), readFileSync(key, 'utf8'), 'import-pass-123');
    const { csrPem } = await createDeviceCsr({ mac: 'aa:bb:cc:00:00:0a' });
    const issued = await authority.issueDeviceFromCsr({ mac: 'aa:bb:cc:00:00:0a', csrPem, profile });
    expect((await ossl.verify(readFileSync(cert, 'utf8'), issued.pem)).ok).toBe(true);

    const other = await CertificateAuthority.generate();
    await expect(CertificateAuthority.import(readFileSync(cert, 'utf8'), other.pkcs8Der.toString('base64').replace(/(.{64})/g, '$1\n').replace(/^/, '-----BEGIN PRIVATE KEY-----\n') + '\n-----END PRIVATE KEY-----\n')).rejects.toThrow(CaImportError);
    await expect(CertificateAuthority.import(issued.pem, readFileSync(key, 'utf8'), 'import-pass-123')).rejects.toThrow(/not a CA/);
  });
});
