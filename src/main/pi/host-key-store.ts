import { createHash } from 'node:crypto';
import path from 'node:path';
import { z } from 'zod';
import { readFileIfExists, writeFileAtomic } from '@tds/server/util';

/**
 * SSH host keys pinned on first use, per `host:port` (the station's own known_hosts, in its data
 * folder). A key is stored as the raw public key blob; the fingerprint is OpenSSH's
 * `SHA256:<base64>` so the operator can compare it with `ssh-keygen -lf` on the Pi.
 */
export interface PinnedHostKey {
  keyType: string;
  /** Base64 of the SSH public key blob. */
  key: string;
  fingerprint: string;
  firstSeen: string;
  lastSeen: string;
}

const PinnedSchema = z.object({
  keyType: z.string().min(1).max(64),
  key: z.string().min(16).max(8192),
  fingerprint: z.string().startsWith('SHA256:'),
  firstSeen: z.string(),
  lastSeen: z.string(),
});
const FileSchema = z.object({ version: z.literal(1), hosts: z.record(z.string(), PinnedSchema) });

export type HostKeyCheck =
  | { status: 'known'; pinned: PinnedHostKey }
  | { status: 'unknown'; keyType: string; fingerprint: string }
  | { status: 'changed'; pinned: PinnedHostKey; keyType: string; fingerprint: string };

/** `SHA256:...` as OpenSSH prints it (base64 without padding). */
export function sshFingerprint(blob: Buffer): string {
  return `SHA256:${createHash('sha256').update(blob).digest('base64').replace(/=+$/, '')}`;
}

/** Key type named inside an SSH public key blob (`ssh-ed25519`, `ecdsa-sha2-nistp256`, ...). */
export function sshKeyType(blob: Buffer): string {
  if (blob.length < 4) return 'unknown';
  const len = blob.readUInt32BE(0);
  if (len <= 0 || len > 64 || blob.length < 4 + len) return 'unknown';
  return blob.subarray(4, 4 + len).toString('ascii');
}

export function hostKeyId(host: string, port: number): string {
  return `${host.includes(':') ? `[${host}]` : host}:${port}`;
}

export class HostKeyStore {
  private chain: Promise<unknown> = Promise.resolve();

  constructor(readonly file: string) {}

  /** `pi-known-hosts.json` in the station's data folder. */
  static inDataDir(dataDir: string): HostKeyStore {
    return new HostKeyStore(path.join(dataDir, 'pi-known-hosts.json'));
  }

  private async load(): Promise<Record<string, PinnedHostKey>> {
    const text = await readFileIfExists(this.file);
    if (text === undefined) return {};
    const parsed = FileSchema.safeParse(JSON.parse(text));
    if (!parsed.success) {
      throw new Error(`${this.file} is damaged (${parsed.error.issues[0]?.message ?? 'invalid'}); fix or remove it`);
    }
    return parsed.data.hosts;
  }

  private save(hosts: Record<string, PinnedHostKey>): Promise<void> {
    return writeFileAtomic(this.file, JSON.stringify({ version: 1, hosts }, null, 2) + '\n', { mode: 0o600, createDir: true });
  }

  /** Serialises read-modify-write cycles so two jobs never lose each other's pins. */
  private exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.chain.then(fn, fn);
    this.chain = next.catch(() => undefined);
    return next;
  }

  async get(host: string, port: number): Promise<PinnedHostKey | undefined> {
    return (await this.load())[hostKeyId(host, port)];
  }

  async list(): Promise<Array<{ id: string } & PinnedHostKey>> {
    return Object.entries(await this.load()).map(([id, k]) => ({ id, ...k }));
  }

  async check(host: string, port: number, blob: Buffer): Promise<HostKeyCheck> {
    const pinned = await this.get(host, port);
    const keyType = sshKeyType(blob);
    const fingerprint = sshFingerprint(blob);
    if (!pinned) return { status: 'unknown', keyType, fingerprint };
    if (pinned.key === blob.toString('base64')) return { status: 'known', pinned };
    return { status: 'changed', pinned, keyType, fingerprint };
  }

  /** Pins a key (first use, or the operator removed the old pin). Never silently replaces a pin. */
  pin(host: string, port: number, blob: Buffer): Promise<PinnedHostKey> {
    return this.exclusive(async () => {
      const hosts = await this.load();
      const id = hostKeyId(host, port);
      const key = blob.toString('base64');
      const existing = hosts[id];
      if (existing && existing.key !== key) {
        throw new Error(`a different host key is pinned for ${id}; remove it first (forget) if the host was reinstalled`);
      }
      const now = new Date().toISOString();
      const entry: PinnedHostKey = existing
        ? { ...existing, lastSeen: now }
        : { keyType: sshKeyType(blob), key, fingerprint: sshFingerprint(blob), firstSeen: now, lastSeen: now };
      hosts[id] = entry;
      await this.save(hosts);
      return entry;
    });
  }

  /** Removes the pin (after the operator confirmed the host was reinstalled). */
  forget(host: string, port: number): Promise<boolean> {
    return this.exclusive(async () => {
      const hosts = await this.load();
      const id = hostKeyId(host, port);
      if (!(id in hosts)) return false;
      delete hosts[id];
      await this.save(hosts);
      return true;
    });
  }
}
