/** The ZIP of seed strategy 1: client.crt, ca.crt, README.txt, and client.key only in the one-time window. */
import { zipSync, strToU8 } from 'fflate';

export interface BundleInput {
  codigo: string;
  mac: string;
  serialNumber: string;
  expiresAt: string;
  certificatePem: string;
  caPem: string;
  privateKeyPem?: string;
  mqttBroker: string;
  mqttPort: number;
}

export function buildCertificateZip(b: BundleInput): Uint8Array {
  const readme = [
    `Gateway:        ${b.codigo}`,
    `MAC:            ${b.mac}`,
    `Serial number:  ${b.serialNumber}`,
    `Valid until:    ${b.expiresAt}`,
    `MQTT broker:    ${b.mqttBroker}:${b.mqttPort} (TLS, client certificate required)`,
    '',
    'Files:',
    '  client.crt  this gateway\'s certificate (CN = its MAC)',
    '  ca.crt      the CA that signs every gateway and the broker',
    b.privateKeyPem
      ? '  client.key  the private key made by the server. This is its only copy: the server has\n              destroyed it. Install it on the gateway only (mode 0600) and keep no other copy.'
      : '  (no client.key: the key was made on the device, or its one download has already happened)',
    '',
    'Install: copy the files to the gateway (Raspberry Pi: /etc/gateway-iot/certs/, ESP32: the',
    "tdscfg partition via the provisioning station) and restart the gateway's MQTT service.",
    '',
  ].join('\n');
  const files: Record<string, Uint8Array> = {
    'client.crt': strToU8(b.certificatePem),
    'ca.crt': strToU8(b.caPem),
    'README.txt': strToU8(readme),
  };
  if (b.privateKeyPem) files['client.key'] = strToU8(b.privateKeyPem);
  return zipSync(files, { level: 6, mtime: new Date() });
}
