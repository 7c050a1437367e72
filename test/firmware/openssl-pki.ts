/**
 * A throwaway PKI made with the openssl CLI (an independent implementation from the firmware's
 * mbedTLS): EC P-256 CA, a broker certificate for 127.0.0.1, service client certificates, and a
 * CSR signer with the device certificate profile (clientAuth, CN = MAC).
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { userInfo } from 'node:os';
import path from 'node:path';
import { requireTool } from '../support/tools.js';

export interface TestPki {
  dir: string;
  caPem: string;
  caFile: string;
  /** Broker server certificate/key files (SAN IP 127.0.0.1). */
  brokerCert: string;
  brokerKey: string;
  /** A client identity with the given CN: files. */
  client(cn: string): { cert: string; key: string };
  /** Signs a PKCS#10 CSR as a device certificate; returns PEM and the serial (lowercase hex). */
  signCsr(csrPem: string, days?: number): { certPem: string; serial: string };
  /** CN of a CSR, after checking its self-signature. */
  csrSubjectCn(csrPem: string): string;
}

function openssl(args: string[], input?: string): string {
  return execFileSync('openssl', args, { encoding: 'utf8', input, stdio: ['pipe', 'pipe', 'pipe'] });
}

export function makePki(dir: string): TestPki {
  requireTool('openssl', 'openssl');
  const f = (n: string): string => path.join(dir, n);
  openssl(['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', f('ca.key')]);
  openssl(['req', '-x509', '-new', '-key', f('ca.key'), '-sha256', '-days', '30', '-subj', '/O=TDS Test/CN=TDS Test CA', '-out', f('ca.crt')]);
  const leaf = (name: string, cn: string, ext: string): void => {
    openssl(['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', f(`${name}.key`)]);
    openssl(['req', '-new', '-key', f(`${name}.key`), '-subj', `/CN=${cn}`, '-out', f(`${name}.csr`)]);
    writeFileSync(f(`${name}.ext`), ext);
    openssl(['x509', '-req', '-in', f(`${name}.csr`), '-CA', f('ca.crt'), '-CAkey', f('ca.key'), '-set_serial', `0x${randomBytes(8).toString('hex')}`,
      '-days', '30', '-sha256', '-extfile', f(`${name}.ext`), '-out', f(`${name}.crt`)]);
  };
  leaf('broker', 'localhost', 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n');
  const clientExt = 'basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=critical,clientAuth\n';
  writeFileSync(f('device.ext'), clientExt);
  return {
    dir,
    caPem: readFileSync(f('ca.crt'), 'utf8'),
    caFile: f('ca.crt'),
    brokerCert: f('broker.crt'),
    brokerKey: f('broker.key'),
    client(cn) {
      const name = `client-${cn.replace(/[^a-z0-9-]/gi, '_')}`;
      leaf(name, cn, clientExt);
      return { cert: f(`${name}.crt`), key: f(`${name}.key`) };
    },
    signCsr(csrPem, days = 30) {
      const serial = `4${randomBytes(8).toString('hex')}`; // positive, 68 bits
      const csrFile = f(`req-${serial}.csr`);
      writeFileSync(csrFile, csrPem);
      const certPem = openssl(['x509', '-req', '-in', csrFile, '-CA', f('ca.crt'), '-CAkey', f('ca.key'), '-set_serial', `0x${serial}`,
        '-days', String(days), '-sha256', '-extfile', f('device.ext')]);
      return { certPem, serial };
    },
    csrSubjectCn(csrPem) {
      const out = openssl(['req', '-noout', '-verify', '-subject', '-nameopt', 'multiline'], csrPem);
      const m = /commonName\s*=\s*(\S+)/.exec(out);
      if (!m) throw new Error(`CSR without CN: ${out}`);
      return m[1]!;
    },
  };
}

/** Mosquitto configuration with the broker rules of docs/broker.md (mTLS, CN → username → client id, per-device ACL). */
export function writeMosquittoConf(dir: string, pki: TestPki, port: number, serviceCn: string): string {
  const acl = path.join(dir, 'acl');
  writeFileSync(
    acl,
    [
      `user ${serviceCn}`,
      'topic readwrite tds_new/#',
      '',
      'pattern write tds_new/devices/%u/telemetry',
      'pattern write tds_new/devices/%u/status',
      'pattern write tds_new/devices/%u/logs',
      'pattern write tds_new/devices/%u/cert/csr',
      'pattern write tds_new/devices/%u/cert/ack',
      'pattern read tds_new/devices/%u/commands',
      '',
    ].join('\n'),
  );
  const conf = path.join(dir, 'mosquitto.conf');
  writeFileSync(
    conf,
    [
      `listener ${port} 127.0.0.1`,
      `user ${userInfo().username}`,
      'log_dest stderr',
      'log_type all',
      'persistence false',
      `cafile ${pki.caFile}`,
      `certfile ${pki.brokerCert}`,
      `keyfile ${pki.brokerKey}`,
      'require_certificate true',
      'use_identity_as_username true',
      'use_username_as_clientid true',
      'tls_version tlsv1.2',
      `acl_file ${acl}`,
      '',
    ].join('\n'),
  );
  return conf;
}
