import { execFileSync } from 'node:child_process';
import { createPrivateKey, createPublicKey } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { DeviceKey, pemBytes } from '../../src/main/certs/device-key.js';
import { tempDir } from '../support/temp.js';
import { requireTool } from '../support/tools.js';

const dir = tempDir('tds-key-');
afterAll(() => dir.remove());

describe('station-side device key', () => {
  it.each(['ec', 'rsa'] as const)('makes a %s key and a CSR for the MAC that openssl verifies', async (type) => {
    const openssl = requireTool('openssl', 'openssl');
    const key = await DeviceKey.generate(type);
    const csr = await key.csrPem('aa:bb:cc:dd:ee:01');
    const file = path.join(dir.path, `${type}.csr`);
    writeFileSync(file, csr);
    const out = execFileSync(openssl, ['req', '-in', file, '-noout', '-verify', '-subject', '-text'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    expect(out).toMatch(/subject=CN\s*=\s*aa:bb:cc:dd:ee:01/);
    expect(out).toMatch(type === 'ec' ? /prime256v1|P-256/ : /2048 bit/);
    // The private key PEM is PKCS#8 that Node (and mbedTLS) read, and matches the CSR's public key.
    const pem = await key.privateKeyPem();
    const text = Buffer.from(pem).toString('latin1');
    expect(text.startsWith('-----BEGIN PRIVATE KEY-----\n')).toBe(true);
    const priv = createPrivateKey(text);
    const pubFromCsr = execFileSync(openssl, ['req', '-in', file, '-noout', '-pubkey'], { encoding: 'utf8' });
    expect(createPublicKey(priv).export({ type: 'spki', format: 'pem' })).toBe(createPublicKey(pubFromCsr).export({ type: 'spki', format: 'pem' }));
    key.destroy();
    expect(pem.every((b) => b === 0)).toBe(true); // zeroed
    await expect(key.csrPem('aa:bb:cc:dd:ee:01')).rejects.toThrow(/destroyed/);
  });

  it('writes PEM armour equal to Node base64 with 64-character lines', () => {
    for (const n of [0, 1, 2, 3, 47, 48, 49, 100]) {
      const der = Uint8Array.from({ length: n }, (_, i) => (i * 37 + 11) & 0xff);
      const b64 = Buffer.from(der).toString('base64');
      const expected = `-----BEGIN X-----\n${(b64.match(/.{1,64}/g) ?? []).map((l) => `${l}\n`).join('')}-----END X-----\n`;
      expect(Buffer.from(pemBytes('X', der)).toString('latin1')).toBe(expected);
    }
  });
});
