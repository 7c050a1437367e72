import { promises as fs } from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { isRaspberryPiMac, parseMac } from '@tds/server/contract';
import { localText, type LocalText } from '../../shared/local-text.js';
import { DEFAULT_PI_PYTHON } from '../../shared/pi-agent.js';
import { JobFailure } from '../jobs/job-failure.js';
import { safeLine } from '../log/safe-text.js';
import { locateAgentDir } from './agent-bundle.js';
import type { HostKeyStore } from './host-key-store.js';
import { SshSession, type SshTarget } from './ssh-session.js';

/** What the station learns about a Pi before touching it (firmware/rpi/probe.sh, no root needed). */
export interface PiProbe {
  model: string | null;
  /** Model says "Raspberry Pi", or the primary interface has a Raspberry Pi MAC prefix. */
  isRaspberryPi: boolean;
  hostname: string;
  arch: string;
  kernel: string;
  os: string;
  interface: string | null;
  /** Canonical MAC of the primary interface (the default-route interface). */
  mac: string | null;
  ipv4: string | null;
  python: string | null;
  pahoMqtt: string | null;
  pymodbus: string | null;
  pyserial: string | null;
  openssl: string | null;
  /**
   * Debian packages the agent needs that are missing (install.sh check's rules), or null when the
   * probe could not tell (no Python, an older probe): then the installer's own check runs.
   */
  missingPackages: string[] | null;
  uid: number;
  user: string;
  sudo: 'root' | 'nopasswd' | 'password' | 'none';
  systemd: boolean;
  /** Hash of the installed agent files, when installed by this station. */
  agentBundle: string | null;
  /** The installed identity (public facts written by install.sh), when there is one. */
  identity: { mac: string; serialNumber: string; installedAt: string } | null;
  /** Service state: systemd's `is-active` word, or active/inactive for the `none` manager. */
  service: string;
}

const IdentitySchema = z.object({ mac: z.string(), serial_number: z.string(), installed_at: z.string() });

const blank = (s: string | undefined): string | null => (s && s.length > 0 ? s : null);

export function parseProbe(text: string): PiProbe {
  const kv = new Map<string, string>();
  for (const line of text.split('\n')) {
    const i = line.indexOf('=');
    if (i > 0) kv.set(line.slice(0, i), line.slice(i + 1).trim());
  }
  if (kv.get('probe_version') !== '1') throw new Error('the probe script gave no answer (is /bin/sh a POSIX shell?)');
  const macRaw = kv.get('mac');
  const mac = macRaw ? parseMac(macRaw) : undefined;
  const model = blank(kv.get('model'));
  let identity: PiProbe['identity'] = null;
  const idText = kv.get('identity');
  if (idText) {
    try {
      const j = IdentitySchema.parse(JSON.parse(idText));
      identity = { mac: j.mac, serialNumber: j.serial_number, installedAt: j.installed_at };
    } catch {
      identity = null;
    }
  }
  const sudo = kv.get('sudo');
  const canonical = mac?.ok ? mac.mac : null;
  return {
    model,
    isRaspberryPi: (model?.startsWith('Raspberry Pi') ?? false) || (canonical !== null && isRaspberryPiMac(canonical)),
    hostname: kv.get('hostname') ?? '',
    arch: kv.get('arch') ?? '',
    kernel: kv.get('kernel') ?? '',
    os: kv.get('os') ?? '',
    interface: blank(kv.get('interface')),
    mac: canonical,
    ipv4: blank(kv.get('ipv4')),
    python: blank(kv.get('python')),
    pahoMqtt: blank(kv.get('paho_mqtt')),
    pymodbus: blank(kv.get('pymodbus')),
    pyserial: blank(kv.get('pyserial')),
    openssl: blank(kv.get('openssl')),
    missingPackages: kv.get('packages_checked') === 'yes' ? (kv.get('missing_packages') ?? '').split(/\s+/).filter(Boolean) : null,
    uid: Number(kv.get('uid') ?? NaN),
    user: kv.get('user') ?? '',
    sudo: sudo === 'root' || sudo === 'nopasswd' || sudo === 'password' ? sudo : 'none',
    systemd: kv.get('systemd') === 'yes',
    agentBundle: blank(kv.get('agent_bundle')),
    identity,
    service: kv.get('service') ?? 'unknown',
  };
}

export interface ProbeOptions {
  agentDir: string;
  installPrefix: string;
  python: string;
  serviceManager: 'systemd' | 'none';
  signal?: AbortSignal;
}

/** Runs probe.sh over the session (`sh -s`, script on stdin) and parses its answer. */
export async function probePi(session: SshSession, options: ProbeOptions): Promise<PiProbe> {
  const script = await fs.readFile(path.join(options.agentDir, 'probe.sh'), 'utf8');
  const args = [options.installPrefix, options.python, options.serviceManager].map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' ');
  const r = await session.exec(`sh -s -- ${args}`, { stdin: script, timeoutMs: 30_000, ...(options.signal ? { signal: options.signal } : {}) });
  if (r.code !== 0) {
    throw new JobFailure('REMOTE_COMMAND_FAILED', `The probe failed on the Pi (exit ${r.code}): ${r.stderr.trim().slice(0, 300)}`);
  }
  return parseProbe(r.stdout);
}

/** One-line summary for logs, the terminal and the UI; what the Pi reported is escaped. */
export function describeProbe(p: PiProbe): string {
  const summary = [
    p.model ?? 'not a Raspberry Pi (no device-tree model)',
    `${p.os} ${p.arch}`,
    `MAC ${p.mac ?? '?'} (${p.interface ?? '?'})`,
    `Python ${p.python ?? 'missing'}`,
    `paho-mqtt ${p.pahoMqtt ?? 'missing'}`,
    p.agentBundle ? `agent installed${p.identity ? ` (certificate ${p.identity.serialNumber})` : ''}` : 'agent not installed',
  ].join(', ');
  return safeLine(summary);
}

/**
 * What the probe found, as the job's facts (shown by the Field screen): plain values, empty when the
 * Pi has none (no model: not a Raspberry Pi; no Python), so the screen can say so in its language.
 */
export function probeFacts(p: PiProbe): Record<string, string> {
  return {
    model: p.model ?? '',
    os: p.os,
    arch: p.arch,
    hostname: p.hostname,
    interface: p.interface ?? '',
    ipv4: p.ipv4 ?? '',
    python: p.python ?? '',
    pahoMqtt: p.pahoMqtt ?? '',
    pymodbus: p.pymodbus ?? '',
    missingPackages: p.missingPackages?.join(' ') ?? '',
    sudo: p.sudo,
    systemd: p.systemd ? 'yes' : 'no',
    agent: p.agentBundle ? 'installed' : 'none',
    service: p.service,
    ...(p.identity ? { installedSerial: p.identity.serialNumber, installedAt: p.identity.installedAt } : {}),
  };
}

export function probeText(p: PiProbe): LocalText {
  const params = {
    model: p.model ?? '',
    os: p.os,
    arch: p.arch,
    mac: p.mac ?? '?',
    iface: p.interface ?? '?',
    python: p.python ?? '—',
    paho: p.pahoMqtt ?? '—',
  };
  // Without a device-tree model the sentence says "not a Raspberry Pi" in the operator's words.
  const notPi = p.model ? '' : 'NotPi';
  if (p.identity) return localText(`core:pi.detail.probeIdentity${notPi}`, { ...params, serial: p.identity.serialNumber });
  return localText(`core:pi.detail.probe${p.agentBundle ? 'Agent' : ''}${notPi}`, params);
}

/** `pi probe`: connect (host key policy as for provisioning), probe, disconnect. Changes nothing. */
export async function probePiHost(
  target: SshTarget,
  options: {
    hostKeys: HostKeyStore;
    hostKeyPolicy: 'accept-new' | 'known';
    expectedHostKey?: string;
    installPrefix?: string;
    serviceManager?: 'systemd' | 'none';
    python?: string;
    agentDir?: string;
    signal?: AbortSignal;
  },
): Promise<{ probe: PiProbe; hostKey: { keyType: string; fingerprint: string } }> {
  const session = await SshSession.connect(target, {
    hostKeys: options.hostKeys,
    policy: options.expectedHostKey ? { mode: 'expect', fingerprint: options.expectedHostKey } : { mode: options.hostKeyPolicy },
    ...(options.signal ? { signal: options.signal } : {}),
  });
  try {
    const probe = await probePi(session, {
      agentDir: options.agentDir ?? locateAgentDir(),
      installPrefix: options.installPrefix ?? '/',
      python: options.python ?? DEFAULT_PI_PYTHON,
      serviceManager: options.serviceManager ?? 'systemd',
      ...(options.signal ? { signal: options.signal } : {}),
    });
    return { probe, hostKey: session.hostKey };
  } finally {
    session.close();
  }
}
