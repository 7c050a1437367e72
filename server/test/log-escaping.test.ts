import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiClient, createApiToken, createDeviceCsr, initServerData, startServer, stderrLogger, type RunningServer } from '@tds/server';
import { escapeControlChars, escapeJsonControlChars } from '@tds/server/util';
import { RepositoryRenewalBackend } from '../src/mqtt/renewal-backend.js';
import { RenewalProtocol } from '../src/mqtt/renewal.js';
import { tempDir } from '../../test/support/temp.js';

/**
 * Log lines built from input: a device can put anything into a CSR's CN, and the refusal reason
 * quotes it. The server's text log must show it escaped — no forged line, no terminal escape
 * sequence, no bidi override — in text and JSON modes. Runs the real server in process, its real
 * logger and the real MQTT renewal protocol and backend (the MQTT transport itself is not needed to
 * reach the refusal).
 */
// eslint-disable-next-line no-control-regex
const RAW_CONTROL = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\u2028\u2029]/;
// Under 64 characters: the refusal quotes at most that much of the CN.
const EVIL_CN = 'x\u001b[2J\u001b[31mFAKE\r\nINFO forged line\u202eexe.txt\u0085\u007f';
const MAC = '02:0e:5c:00:00:01';
const dir = tempDir('tds-logesc-');
const dataDir = path.join(dir.path, 'data');
const lines: string[] = [];
let server: RunningServer;
let client: ApiClient;

beforeAll(async () => {
  await initServerData({ dataDir, passphrase: 'log escaping passphrase' });
  server = await startServer({ dataDir, passphrase: 'log escaping passphrase', tls: 'off', port: 0, logger: stderrLogger({ write: (l) => lines.push(l) }) });
  const account = await server.repo.createAccount('logs', { at: '2026-01-01T00:00:00Z', accountId: null, actor: 'test', action: 'account.create', object: null, sourceIp: null, result: 'ok', detail: null });
  const { token } = await createApiToken(server.repo, { accountId: account.id, role: 'operator' }, 'test');
  client = new ApiClient({ baseUrl: server.url, token });
  await client.provision({ mac_address: MAC, codigo: 'LOG1', nome: 'log test', conta_id: account.id });
});
afterAll(async () => {
  client?.close();
  await server?.close();
  dir.remove();
});

describe('log lines built from input are escaped', () => {
  it("a CSR's CN with control characters reaches the server's text log escaped when a renewal is refused", async () => {
    const logger = stderrLogger({ write: (l) => lines.push(l) });
    const protocol = new RenewalProtocol({
      backend: new RepositoryRenewalBackend({ ca: server.ca, repo: server.repo, store: server.broker.store, issuance: server.service }),
      publish: async () => undefined,
      log: (line) => logger.info(line),
    });
    const { csrPem } = await createDeviceCsr({ mac: MAC, commonName: EVIL_CN });
    const before = lines.length;
    await protocol.onCsr(MAC, Buffer.from(JSON.stringify({ id: 'r-evil', csr_pem: csrPem })));
    const written = lines.slice(before).join('');
    expect(written).toMatch(/\[renewal\] 02:0e:5c:00:00:01: csr refused: the CSR CN /);
    // One line, whatever the CN held; every control character visible as an escape.
    expect(written.split('\n')).toHaveLength(2);
    expect(written.slice(0, -1)).not.toMatch(RAW_CONTROL);
    expect(written).toContain("the CSR CN 'x\\x1b[2J\\x1b[31mFAKE\\r\\nINFO forged line\\u202eexe.txt\\x85\\x7f' is not the MAC");
  });

  it('the JSON log stays valid JSON with the same text, and fields are escaped too', () => {
    const out: string[] = [];
    stderrLogger({ json: true, write: (l) => out.push(l) }).warn(EVIL_CN, { cn: EVIL_CN });
    stderrLogger({ write: (l) => out.push(l) }).warn('refused', { cn: EVIL_CN });
    for (const line of out) {
      expect(line.endsWith('\n')).toBe(true);
      expect(line.slice(0, -1)).not.toMatch(RAW_CONTROL);
    }
    expect(JSON.parse(out[0]!)).toMatchObject({ level: 'warn', message: EVIL_CN, cn: EVIL_CN });
    expect(out[1]).toContain(`refused cn=${escapeControlChars(EVIL_CN)}`);
  });

  it('escapes C0, DEL, C1, bidi controls and line separators, and nothing else', () => {
    expect(escapeControlChars('a\tb\u0000c\u007fd\u009be\u202af\u2066g\u2028h\u200fi')).toBe('a\\tb\\x00c\\x7fd\\x9be\\u202af\\u2066g\\u2028h\\u200fi');
    const plain = "Sala D'Ávila (2º andar) — 東京 🚀 C:\\path\\x1b";
    expect(escapeControlChars(plain)).toBe(plain);
    expect(JSON.parse(escapeJsonControlChars(JSON.stringify({ s: EVIL_CN })))).toEqual({ s: EVIL_CN });
  });
});
