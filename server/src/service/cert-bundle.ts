/** The ZIP of seed strategy 1: client.crt, ca.crt, README.txt, and client.key only in the one-time window. */
import { zipSync, strToU8 } from 'fflate';

export interface BundleInput {
  codigo: string;
  /** Free text (printable, one line: the API refuses control characters and line breaks). */
  nome: string;
  mac: string;
  serialNumber: string;
  expiresAt: string;
  certificatePem: string;
  caPem: string;
  privateKeyPem?: string;
  mqttBroker: string;
  mqttPort: number;
}

/** Defence in depth: names are validated at the API, but a README line must stay one line. */
function oneLine(text: string): string {
  // eslint-disable-next-line no-control-regex
  return text.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g, ' ');
}

export function buildCertificateZip(b: BundleInput): Uint8Array {
  const readme = [
    `Gateway:        ${b.codigo}`,
    `Name:           ${oneLine(b.nome)}`,
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
