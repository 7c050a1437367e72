/**
 * Certificate identities on the broker (docs/broker.md). With `use_identity_as_username` the
 * certificate CN is the MQTT username (and client id), so the CN alone decides what a client may do:
 * - a device: CN = canonical MAC `aa:bb:cc:dd:ee:ff`;
 * - the server's own MQTT client: CN = `tds-server-<name>`;
 * - a station's monitor: CN = `station-monitor-<name>` (one per station: identical client ids kick
 *   each other off the broker).
 * The CA must never issue a MAC-shaped CN to a service or a service-shaped CN to a device.
 */
import { parseMac } from './mac.js';

export type ServiceKind = 'server' | 'station';

export const SERVICE_CN_PREFIX: Readonly<Record<ServiceKind, string>> = {
  server: 'tds-server-',
  station: 'station-monitor-',
};

/** Lowercase letters, digits and inner hyphens, 1–40 characters: safe in ACL lines, topics and file names. */
const SERVICE_NAME = /^[a-z0-9](?:[a-z0-9-]{0,38}[a-z0-9])?$/;

export type ServiceNameResult = { ok: true; name: string } | { ok: false; error: string };

export function parseServiceName(input: unknown): ServiceNameResult {
  if (typeof input !== 'string') return { ok: false, error: 'service name must be a string like "factory-1"' };
  const name = input.trim();
  if (!SERVICE_NAME.test(name)) {
    return {
      ok: false,
      error: `'${name.slice(0, 60)}' is not a valid service name: use 1-40 lowercase letters, digits and inner hyphens (e.g. "bench-3")`,
    };
  }
  // A MAC-shaped name would make the identity look like a device in logs and on the wire.
  if (parseMac(name).ok) return { ok: false, error: `service name '${name}' looks like a MAC address; choose a descriptive name` };
  return { ok: true, name };
}

export function serviceCommonName(kind: ServiceKind, name: string): string {
  const r = parseServiceName(name);
  if (!r.ok) throw new Error(r.error);
  return `${SERVICE_CN_PREFIX[kind]}${r.name}`;
}

export type BrokerIdentity =
  | { kind: 'device'; cn: string; mac: string }
  | { kind: 'server'; cn: string; name: string }
  | { kind: 'station'; cn: string; name: string }
  | { kind: 'unknown'; cn: string };

/**
 * Classifies a certificate CN. Only the exact canonical MAC form is a device (a device certificate
 * always carries the canonical form, and the ACL substitutes the username textually).
 */
export function classifyCommonName(cn: string): BrokerIdentity {
  const mac = parseMac(cn);
  if (mac.ok && mac.mac === cn) return { kind: 'device', cn, mac: cn };
  for (const kind of ['server', 'station'] as const) {
    const prefix = SERVICE_CN_PREFIX[kind];
    if (cn.startsWith(prefix)) {
      const name = parseServiceName(cn.slice(prefix.length));
      if (name.ok && name.name === cn.slice(prefix.length)) return { kind, cn, name: name.name };
    }
  }
  return { kind: 'unknown', cn };
}
