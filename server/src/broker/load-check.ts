/**
 * "Would Mosquitto load these files?" — asked before every reload the server or the kit sends.
 * Mosquitto re-reads its certificates, key, CRL and ACL on SIGHUP as the unprivileged user it runs
 * as; a file it cannot read or parse leaves the TLS listener dead (key, certificate) or silently
 * stops revocation checking (CRL). So before a reload: every file must be readable by the broker's
 * user (from /proc/<pid>/status when the reload goes to a pid, else the `mosquitto` account) and
 * must parse as OpenSSL will read it; otherwise the reload is refused with the reasons.
 */
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { promises as fs, type Stats } from 'node:fs';
import path from 'node:path';
import { createSecureContext } from 'node:tls';
import { validateCrl } from './crl-check.js';
import type { ReloadTarget } from './reloader.js';
import { pidOf } from './reloader.js';

/** The identity file access is checked for (the broker's file-system uid and groups). */
export interface BrokerUser {
  uid: number;
  gids: number[];
  /** Where it came from, for messages: "pid 1234", "user mosquitto". */
  source: string;
}

/** One file the broker will read; `read` may be a staged copy of `name` with the same mode and owner. */
export interface BrokerFile {
  name: string;
  read?: string;
}

export interface BrokerFiles {
  ca?: BrokerFile;
  cert?: BrokerFile;
  key?: BrokerFile;
  crl?: BrokerFile;
  acl?: BrokerFile;
}

async function fromProc(pid: number): Promise<BrokerUser | undefined> {
  let status: string;
  try {
    status = await fs.readFile(`/proc/${pid}/status`, 'utf8');
  } catch {
    return undefined;
  }
  // Uid:/Gid: list real, effective, saved and file-system ids; access checks use the last one.
  const ids = (key: string): number[] => (new RegExp(`^${key}:\\s*(.*)$`, 'm').exec(status)?.[1] ?? '').trim().split(/\s+/).filter(Boolean).map(Number);
  const uid = ids('Uid').at(-1);
  const gid = ids('Gid').at(-1);
  if (uid === undefined || gid === undefined) return undefined;
  return { uid, gids: [...new Set([gid, ...ids('Groups')])], source: `pid ${pid}` };
}

async function fromAccount(name: string): Promise<BrokerUser | undefined> {
  const passwd = await fs.readFile('/etc/passwd', 'utf8').catch(() => '');
  const entry = passwd.split('\n').map((l) => l.split(':')).find((f) => f[0] === name);
  if (!entry || entry.length < 4) return undefined;
  const uid = Number(entry[2]);
  const gid = Number(entry[3]);
  const group = await fs.readFile('/etc/group', 'utf8').catch(() => '');
  const extra = group
    .split('\n')
    .map((l) => l.split(':'))
    .filter((f) => f.length >= 4 && f[3]!.split(',').includes(name))
    .map((f) => Number(f[2]));
  return { uid, gids: [...new Set([gid, ...extra])], source: `user ${name}` };
}

/**
 * The broker's user: the running process the reload goes to (pid, pid file); for a reload command
 * (or none) the `mosquitto` account. Undefined when the pid names no running process (nothing to
 * break) or there is no such account.
 */
export async function brokerUser(reload: ReloadTarget): Promise<BrokerUser | undefined> {
  if (reload.kind === 'pid' || reload.kind === 'pidfile') {
    const pid = await pidOf(reload).catch(() => undefined);
    return pid ? fromProc(pid) : undefined;
  }
  return fromAccount('mosquitto');
}

function allows(st: Stats, user: BrokerUser, bit: 4 | 1): boolean {
  if (user.uid === 0) return true; // root reads any file and enters any folder
  if (st.uid === user.uid) return ((st.mode >> 6) & bit) !== 0;
  if (user.gids.includes(st.gid)) return ((st.mode >> 3) & bit) !== 0;
  return (st.mode & bit) !== 0;
}

/** Why `user` cannot read `file` (every folder on the way must be searchable), or undefined. */
export async function unreadableReason(file: BrokerFile, user: BrokerUser): Promise<string | undefined> {
  const target = file.read ?? file.name;
  const st = await fs.stat(target).catch(() => undefined);
  if (!st) return `${file.name} does not exist`;
  const describe = (s: Stats): string => `owner ${s.uid}:${s.gid}, mode ${(s.mode & 0o777).toString(8).padStart(4, '0')}`;
  if (!allows(st, user, 4)) return `${file.name} is not readable by the broker (${user.source}, uid ${user.uid}) (${describe(st)})`;
  let dir = path.dirname(path.resolve(target));
  for (;;) {
    const d = await fs.stat(dir).catch(() => undefined);
    if (d && !allows(d, user, 1)) return `the broker (${user.source}) cannot enter ${dir} (${describe(d)}), so it cannot read ${file.name}`;
    const up = path.dirname(dir);
    if (up === dir) return undefined;
    dir = up;
  }
}

async function text(f: BrokerFile | undefined): Promise<string | undefined> {
  return f ? fs.readFile(f.read ?? f.name, 'utf8') : undefined;
}

/**
 * Checks that the broker can read and parse the given files; throws one error listing every
 * problem ("reload refused: ...") so nothing is reloaded half-broken.
 */
export async function checkBrokerFiles(files: BrokerFiles, user: BrokerUser | undefined): Promise<void> {
  const problems: string[] = [];
  const present = Object.values(files).filter((f): f is BrokerFile => f !== undefined);
  if (user) for (const f of present) {
    const why = await unreadableReason(f, user);
    if (why) problems.push(why);
  }
  const [ca, cert, key, crl] = await Promise.all([text(files.ca), text(files.cert), text(files.key), text(files.crl)].map((p) => p.catch(() => undefined)));
  const attempt = (what: string, fn: () => void): void => {
    try {
      fn();
    } catch (err) {
      problems.push(`${what}: ${(err as Error).message}`);
    }
  };
  if (files.ca && ca !== undefined) attempt(`${files.ca.name} is not a certificate`, () => new X509Certificate(ca));
  if (files.cert && cert !== undefined) attempt(`${files.cert.name} is not a certificate`, () => new X509Certificate(cert));
  if (files.key && key !== undefined) attempt(`${files.key.name} is not a private key`, () => createPrivateKey(key));
  if (cert !== undefined && key !== undefined && problems.length === 0) {
    attempt(`${files.key!.name} does not belong to ${files.cert!.name}`, () => {
      if (!new X509Certificate(cert).checkPrivateKey(createPrivateKey(key))) throw new Error('the public keys differ');
    });
    attempt('OpenSSL refuses the certificate/key pair', () => createSecureContext({ cert, key, ...(ca ? { ca } : {}) }));
  }
  if (files.crl && crl !== undefined && ca !== undefined) {
    try {
      await validateCrl(crl, ca);
    } catch (err) {
      problems.push(`${files.crl.name}: ${(err as Error).message}`);
    }
  }
  if (problems.length > 0) throw new Error(`broker reload refused, the broker would not load its files: ${problems.join('; ')}`);
}
