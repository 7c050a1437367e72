import { existsSync, readdirSync, readFileSync, writeFileSync, mkdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiClient, type ProvisionResponse } from '@tds/server';
import { startProcess, type StartedProcess } from '../../test/support/processes.js';
import { startTestServer, TDS_SERVER_CLI, type TestServer } from '../../test/support/server.js';
import { tempDir } from '../../test/support/temp.js';
import { writeBackup, type BackupManifest } from '../src/backup/container.js';
import { OpenSsl } from './support/openssl.js';
import { run } from './support/run.js';

/**
 * `tds-server backup` under a concurrent issuance load, `restore` into a new folder, `serve` from
 * it: every certificate a client got a 201 for before the backup began is there, the CA signs a new
 * one, and openssl verifies old and new against the restored CA and CRL. Hostile files (bits flipped
 * at several offsets, truncated, wrong passphrase, a newer format version, a non-empty target) are
 * refused with a clear message and write nothing.
 */
const PASS = 'backup passphrase, long enough';
const work = tempDir('tds-backup-');
let server: TestServer;
let backupFile: string;
const before: ProvisionResponse[] = [];
let during = 0;
/** Every serial a client got a 201 for (before and during the backup). */
const answered = new Set<string>();
const ossl = new OpenSsl(work.path);

async function tdsServer(args: string[], env: Record<string, string> = {}): Promise<{ code: number | string; stdout: string; output: string }> {
  return run(process.execPath, [TDS_SERVER_CLI, ...args], { env: { TDS_BACKUP_PASSPHRASE: PASS, TDS_CA_PASSPHRASE: server.passphrase, ...env }, timeoutMs: 120_000 });
}

async function serveFrom(dataDir: string): Promise<{ proc: StartedProcess; apiUrl: string }> {
  const proc = startProcess('tds-server serve (restored)', process.execPath, [TDS_SERVER_CLI, 'serve', '--data', dataDir, '--port', '0', '--json'], {
    env: { ...process.env, TDS_CA_PASSPHRASE: server.passphrase },
  });
  const m = await proc.waitForOutput(/^(\{"event":"listening".*\})$/m, 30_000);
  return { proc, apiUrl: (JSON.parse(m[1]!) as { api_url: string }).api_url };
}

let macSeq = 0;
const nextMac = (): string => {
  const n = macSeq++;
  return `02:bb:00:00:${((n >> 8) & 0xff).toString(16).padStart(2, '0')}:${(n & 0xff).toString(16).padStart(2, '0')}`;
};

beforeAll(async () => {
  server = await startTestServer();
  const c = server.client('operator');
  for (let i = 0; i < 20; i++) before.push(await c.provision({ mac_address: nextMac(), codigo: `B${i}`, nome: 'before the backup', conta_id: server.contaId }));
  for (const p of before) answered.add(p.serial_number);
  await c.revoke(before[0]!.gateway_id, 'keyCompromise');
  // Many clients keep issuing while the backup runs.
  let stop = false;
  const load = Array.from({ length: 8 }, async (_, k) => {
    const lc = server.client('operator');
    while (!stop) {
      answered.add((await lc.provision({ mac_address: nextMac(), codigo: `L${k}`, nome: 'during the backup', conta_id: server.contaId })).serial_number);
      during++;
    }
    lc.close();
  });
  backupFile = path.join(work.path, 'server.tdsbackup');
  const r = await tdsServer(['backup', '--data', server.dataDir, '--out', backupFile, '--json']);
  stop = true;
  await Promise.all(load);
  c.close();
  expect(r.code, r.output).toBe(0);
}, 180_000);

afterAll(async () => {
  await server?.stop();
  work.remove();
});

describe('backup and restore', () => {
  it('the backup is made online, is encrypted, and its manifest lists the data folder', () => {
    expect(during).toBeGreaterThan(0);
    expect(statSync(backupFile).mode & 0o777).toBe(0o600);
    const bytes = readFileSync(backupFile);
    expect(bytes.subarray(0, 8).toString('latin1')).toBe('TDSBKUP\n');
    // Nothing readable inside: no PEM, no SQLite header, no file names.
    for (const text of ['BEGIN CERTIFICATE', 'SQLite format 3', 'ca.key.enc', 'tds-sealed-secret']) expect(bytes.includes(Buffer.from(text))).toBe(false);
    expect(readdirSync(work.path).filter((f) => f.startsWith('.tds-backup-') || f.endsWith('.partial'))).toEqual([]);
  });

  it('--check verifies the whole file and writes nothing', async () => {
    const r = await tdsServer(['restore', '--from', backupFile, '--check', '--json']);
    expect(r.code, r.output).toBe(0);
    const s = JSON.parse(r.stdout) as { ok: boolean; files: { path: string; sha256: string }[]; store: { kind: string } };
    expect(s.ok).toBe(true);
    expect(s.store.kind).toBe('sqlite');
    expect(s.files.map((f) => f.path)).toEqual(expect.arrayContaining(['tds-server.db', 'ca.crt', 'ca.key.enc', 'config.json', 'crl.pem']));
  });

  it('restores into a new folder that serves: old certificates there, the CA signs, openssl verifies old and new against the restored CA and CRL', async () => {
    const target = path.join(work.path, 'restored');
    const r = await tdsServer(['restore', '--from', backupFile, '--data', target, '--json']);
    expect(r.code, r.output).toBe(0);
    expect(statSync(target).mode & 0o777).toBe(0o700);
    expect(statSync(path.join(target, 'ca.key.enc')).mode & 0o777).toBe(0o600);
    expect(readFileSync(path.join(target, 'ca.crt'), 'utf8')).toBe(server.caPem);
    const { proc, apiUrl } = await serveFrom(target);
    try {
      const c = new ApiClient({ baseUrl: apiUrl, caPem: server.caPem, token: server.tokens.operator });
      const listed = await c.listAllGateways();
      const serials = new Set(listed.flatMap((g) => (g.active_certificate ? [g.active_certificate.serial_number] : [])));
      for (const p of before.slice(1)) expect(serials.has(p.serial_number), p.mac_address).toBe(true);
      // A consistent snapshot: every certificate in it is one a client got its 201 for (none half-made).
      for (const serial of serials) expect(answered.has(serial), serial).toBe(true);
      const revoked = await c.getGateway(before[0]!.gateway_id);
      expect(revoked.certificados[0]).toMatchObject({ serial_number: before[0]!.serial_number, status: 'revoked' });
      const fresh = await c.provision({ mac_address: nextMac(), codigo: 'NEW', nome: 'after restore', conta_id: server.contaId });
      const crl = await c.getCrlPem();
      expect(await c.getCaPem()).toBe(server.caPem);
      for (const cert of [before[5]!.certificate_pem, fresh.certificate_pem]) {
        const v = await ossl.verify(server.caPem, cert, crl);
        expect(v.ok, v.output).toBe(true);
      }
      const gone = await ossl.verify(server.caPem, before[0]!.certificate_pem, crl);
      expect(gone.ok).toBe(false);
      expect(gone.output).toMatch(/revoked/i);
      // The restored audit trail has the original events and the restore itself.
      const audit = await new ApiClient({ baseUrl: apiUrl, caPem: server.caPem, token: server.tokens.admin }).listAudit({ action: 'certificate.revoke' });
      expect(audit.count).toBeGreaterThanOrEqual(1);
      c.close();
    } finally {
      await proc.stop();
    }
  });

  it('refuses a non-empty target, a tampered, truncated, wrong-passphrase or newer-version file, and writes nothing', async () => {
    const bytes = readFileSync(backupFile);
    const headerEnd = 12 + bytes.readUInt32BE(8);
    const variants: { name: string; file: Buffer | null; env?: Record<string, string>; target?: 'nonEmpty'; message: RegExp }[] = [
      ...[20, headerEnd + 3, Math.floor(bytes.length / 2), bytes.length - 40, bytes.length - 5].map((offset) => {
        const b = Buffer.from(bytes);
        b[offset] = b[offset]! ^ 0x04;
        return { name: `bit flipped at ${offset}`, file: b, message: offset < headerEnd ? /damaged|header|passphrase|authentication/ : /modified or damaged/ };
      }),
      { name: 'truncated', file: bytes.subarray(0, bytes.length - 1000), message: /truncated: 1000 bytes are missing/ },
      { name: 'cut in the header', file: bytes.subarray(0, 30), message: /truncated|damaged/ },
      { name: 'wrong passphrase', file: bytes, env: { TDS_BACKUP_PASSPHRASE: 'not the right passphrase' }, message: /passphrase does not open this backup/ },
      { name: 'not a backup', file: Buffer.from('PK\u0003\u0004 a zip file'), message: /not a TDS server backup/ },
      { name: 'newer format version', file: withHeader(bytes, (h) => ({ ...h, version: 2 })), message: /format version 2.*newer tds-server/ },
      { name: 'non-empty target', file: bytes, target: 'nonEmpty', message: /is not empty/ },
    ];
    for (const v of variants) {
      const file = path.join(work.path, `hostile-${v.name.replace(/\W+/g, '-')}.tdsbackup`);
      writeFileSync(file, v.file!);
      const target = path.join(work.path, `target-${v.name.replace(/\W+/g, '-')}`);
      if (v.target === 'nonEmpty') {
        mkdirSync(target);
        writeFileSync(path.join(target, 'keep.txt'), 'mine');
      }
      for (const args of [['--check'], ['--data', target]]) {
        const r = await tdsServer(['restore', '--from', file, ...args], v.env);
        if (v.target === 'nonEmpty' && args[0] === '--check') continue;
        expect(r.code, `${v.name}: ${r.output}`).toBe(1);
        expect(r.output, v.name).toMatch(v.message);
        expect(r.output).not.toMatch(/at .*\.js:\d+/); // one clear line, no stack trace
      }
      if (v.target === 'nonEmpty') expect(readdirSync(target)).toEqual(['keep.txt']);
      else expect(existsSync(target), v.name).toBe(false);
      expect(readdirSync(work.path).filter((f) => f.includes('.restore-'))).toEqual([]);
    }
  });

  it('a file that authenticates but whose manifest is hostile (a path out of the folder, a wrong checksum) is refused too', async () => {
    const src = path.join(work.path, 'payload.txt');
    writeFileSync(src, 'payload');
    const entry = { path: '../escaped.txt', size: 7, sha256: '239f59ed55e737c77147cf55ad0c1b030b6d7ee748a7426952f9b852d5a935e5', mode: 0o600, store: false };
    const manifest = (files: BackupManifest['files']): BackupManifest => ({ format_version: 1, created_at: '2026-01-01T00:00:00Z', server_version: 'x', store: { kind: 'sqlite', schema_version: 5 }, files });
    const cases = [
      { name: 'escape', files: [entry], message: /manifest is invalid: files\.0\.path/ },
      { name: 'absolute', files: [{ ...entry, path: '/etc/cron.d/x' }], message: /manifest is invalid: files\.0\.path/ },
      { name: 'checksum', files: [{ ...entry, path: 'config.json', sha256: '0'.repeat(64) }], message: /config\.json does not match its SHA-256/ },
    ];
    for (const c of cases) {
      const file = path.join(work.path, `manifest-${c.name}.tdsbackup`);
      await writeBackup(file, manifest(c.files), [{ file: src, entry: c.files[0]! }], PASS);
      const target = path.join(work.path, `manifest-target-${c.name}`);
      const r = await tdsServer(['restore', '--from', file, '--data', target]);
      expect(r.code, r.output).toBe(1);
      expect(r.output).toMatch(c.message);
      expect(existsSync(target)).toBe(false);
      expect(existsSync(path.join(work.path, 'escaped.txt'))).toBe(false);
    }
  });

  it('refuses to overwrite an existing file and a short passphrase', async () => {
    const again = await tdsServer(['backup', '--data', server.dataDir, '--out', backupFile]);
    expect(again.code).toBe(1);
    expect(again.output).toMatch(/already exists/);
    const short = await tdsServer(['backup', '--data', server.dataDir, '--out', path.join(work.path, 'short.tdsbackup')], { TDS_BACKUP_PASSPHRASE: 'short' });
    expect(short.code).toBe(1);
    expect(short.output).toMatch(/at least 12 characters/);
  });
});

/** The same file with its header JSON changed (length adjusted; the tag no longer matches, but the version is read first). */
function withHeader(bytes: Buffer, change: (h: Record<string, unknown>) => Record<string, unknown>): Buffer {
  const len = bytes.readUInt32BE(8);
  const header = change(JSON.parse(bytes.subarray(12, 12 + len).toString('utf8')) as Record<string, unknown>);
  const hb = Buffer.from(JSON.stringify(header));
  const l = Buffer.alloc(4);
  l.writeUInt32BE(hb.length);
  return Buffer.concat([bytes.subarray(0, 8), l, hb, bytes.subarray(12 + len)]);
}
