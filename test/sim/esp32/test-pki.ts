/**
 * A throwaway PKI for simulator tests, made with the real openssl CLI: a CA, a broker certificate
 * for 127.0.0.1/localhost, and client certificates (device CN = MAC, or a service name). Plus a
 * Mosquitto configuration that requires client certificates like the product's broker kit.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { userInfo } from 'node:os';
import path from 'node:path';
import { requireTool } from '../../support/tools.js';

export interface CertPair {
  cert: string;
  key: string;
}

export interface TestPki {
  dir: string;
  caPem: string;
  caKeyPath: string;
  broker: CertPair;
  /** Issues a client certificate with this CN (a device MAC or a service identity). */
  client(cn: string, ca?: { certPath: string; keyPath: string }): CertPair;
  /** A second, unrelated CA (for "wrong CA" cases). */
  otherCa(): { certPath: string; keyPath: string; pem: string };
}

function openssl(args: string[], cwd: string): void {
  execFileSync('openssl', args, { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
}

function newKey(file: string, cwd: string): void {
  openssl(['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', file], cwd);
}

function issue(cwd: string, name: string, cn: string, ca: { certPath: string; keyPath: string }, ext: string): CertPair {
  newKey(`${name}.key`, cwd);
  openssl(['req', '-new', '-key', `${name}.key`, '-subj', `/CN=${cn}`, '-out', `${name}.csr`], cwd);
  writeFileSync(path.join(cwd, `${name}.ext`), ext);
  openssl(
    ['x509', '-req', '-in', `${name}.csr`, '-CA', ca.certPath, '-CAkey', ca.keyPath, '-set_serial', String(Date.now() % 1e9 + Math.floor(Math.random() * 1e6)), '-days', '2', '-extfile', `${name}.ext`, '-out', `${name}.pem`],
    cwd,
  );
  return { cert: readFileSync(path.join(cwd, `${name}.pem`), 'utf8'), key: readFileSync(path.join(cwd, `${name}.key`), 'utf8') };
}

function makeCa(cwd: string, name: string, cn: string): { certPath: string; keyPath: string; pem: string } {
  newKey(`${name}.key`, cwd);
  openssl(['req', '-x509', '-new', '-key', `${name}.key`, '-subj', `/CN=${cn}`, '-days', '2', '-out', `${name}.pem`], cwd);
  return { certPath: path.join(cwd, `${name}.pem`), keyPath: path.join(cwd, `${name}.key`), pem: readFileSync(path.join(cwd, `${name}.pem`), 'utf8') };
}

export function makeTestPki(dir: string): TestPki {
  requireTool('openssl', 'openssl');
  const ca = makeCa(dir, 'ca', 'TDS Simulator Test CA');
  const broker = issue(dir, 'broker', 'localhost', ca, 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n');
  let n = 0;
  return {
    dir,
    caPem: ca.pem,
    caKeyPath: ca.keyPath,
    broker,
    client: (cn, other) => issue(dir, `client${n++}`, cn, other ?? ca, 'extendedKeyUsage=clientAuth\n'),
    otherCa: () => makeCa(dir, `other-ca${n++}`, 'Some Other CA'),
  };
}

/** mosquitto.conf for a TLS listener requiring client certificates (CN = username = client id). */
export function writeMosquittoConf(pki: TestPki, port: number): string {
  const file = (name: string, text: string): string => {
    const p = path.join(pki.dir, name);
    writeFileSync(p, text);
    return p;
  };
  const conf = [
    `listener ${port} 127.0.0.1`,
    `cafile ${file('broker-ca.pem', pki.caPem)}`,
    `certfile ${file('broker-cert.pem', pki.broker.cert)}`,
    `keyfile ${file('broker-key.pem', pki.broker.key)}`,
    'require_certificate true',
    'use_identity_as_username true',
    'use_username_as_clientid true',
    'tls_version tlsv1.2',
    'allow_anonymous false',
    'persistence false',
    'log_dest stderr',
    'log_type all',
    `user ${userInfo().username}`,
  ];
  return file('mosquitto.conf', conf.join('\n') + '\n');
}
