/**
 * The broker's topic rules (see docs/broker.md) as data. The Mosquitto ACL file is rendered from these
 * rules and the embedded broker enforces the same rules, so both brokers behave alike.
 */
import { TOPIC_ROOT, classifyCommonName, type BrokerIdentity } from '../contract/index.js';

export type Access = 'read' | 'write';

export interface TopicRule {
  access: Access;
  /** MQTT topic filter; `%u` stands for the client's username (= certificate CN). */
  topic: string;
}

/** Each device may write only its own topics and read only its own commands. Never `read #`. */
export const DEVICE_RULES: readonly TopicRule[] = [
  { access: 'write', topic: `${TOPIC_ROOT}/%u/telemetry` },
  { access: 'write', topic: `${TOPIC_ROOT}/%u/status` },
  { access: 'write', topic: `${TOPIC_ROOT}/%u/logs` },
  { access: 'write', topic: `${TOPIC_ROOT}/%u/cert/csr` },
  { access: 'write', topic: `${TOPIC_ROOT}/%u/cert/ack` },
  { access: 'read', topic: `${TOPIC_ROOT}/%u/commands` },
];

/** The server's own client reads every device topic and sends commands. */
export const SERVER_RULES: readonly TopicRule[] = [
  { access: 'read', topic: `${TOPIC_ROOT}/#` },
  { access: 'write', topic: `${TOPIC_ROOT}/+/commands` },
];

/**
 * Mosquitto only: the server's client drives the dynamic-security plugin, which the broker kit
 * loads solely to disconnect live sessions of revoked certificates (see session-control.ts).
 */
export const DYNSEC_CONTROL_TOPIC = '$CONTROL/dynamic-security/v1';
export const SERVER_CONTROL_RULES: readonly TopicRule[] = [
  { access: 'write', topic: DYNSEC_CONTROL_TOPIC },
  { access: 'read', topic: `${DYNSEC_CONTROL_TOPIC}/response` },
];

/**
 * Mosquitto only: every ACL the server publishes grants its own client one fresh topic below this
 * root, so the server can see when the broker enforces the new ACL (and the CRL reloaded with it).
 */
export const RELOAD_MARKER_ROOT = 'tds_new/broker/reload';

/** A station's monitor only watches presence and telemetry. */
export const STATION_MONITOR_RULES: readonly TopicRule[] = [
  { access: 'read', topic: `${TOPIC_ROOT}/+/status` },
  { access: 'read', topic: `${TOPIC_ROOT}/+/telemetry` },
];

export function rulesFor(identity: BrokerIdentity): readonly TopicRule[] {
  switch (identity.kind) {
    case 'device':
      return DEVICE_RULES.map((r) => ({ access: r.access, topic: r.topic.replaceAll('%u', identity.cn) }));
    case 'server':
      return SERVER_RULES;
    case 'station':
      return STATION_MONITOR_RULES;
    default:
      return [];
  }
}

/** MQTT topic-filter match of a concrete topic name. */
export function topicMatches(filter: string, topic: string): boolean {
  const f = filter.split('/');
  const t = topic.split('/');
  // Wildcards never match topics starting with '$' (MQTT 3.1.1 §4.7.2).
  if (topic.startsWith('$') && (f[0] === '#' || f[0] === '+')) return false;
  for (let i = 0; i < f.length; i++) {
    const level = f[i];
    if (level === '#') return true;
    if (i >= t.length) return false;
    if (level !== '+' && level !== t[i]) return false;
  }
  return f.length === t.length;
}

/** True when every topic matched by `requested` is also matched by `granted`. */
export function filterCovers(granted: string, requested: string): boolean {
  const g = granted.split('/');
  const r = requested.split('/');
  for (let i = 0; i < g.length; i++) {
    const level = g[i];
    if (level === '#') return true;
    if (i >= r.length) return false;
    const req = r[i];
    if (req === '#') return false;
    if (level === '+') continue;
    if (req === '+' || req !== level) return false;
  }
  return g.length === r.length;
}

export class TopicPolicy {
  /** CNs that are denied everything (revoked identities that may still hold a connection). */
  private readonly quarantined = new Set<string>();

  setQuarantined(cns: Iterable<string>): void {
    this.quarantined.clear();
    for (const cn of cns) this.quarantined.add(cn);
  }

  isQuarantined(cn: string): boolean {
    return this.quarantined.has(cn);
  }

  private rules(cn: string, access: Access): string[] {
    if (this.quarantined.has(cn)) return [];
    return rulesFor(classifyCommonName(cn))
      .filter((r) => r.access === access)
      .map((r) => r.topic);
  }

  mayPublish(cn: string, topic: string): boolean {
    if (topic.includes('+') || topic.includes('#')) return false;
    return this.rules(cn, 'write').some((f) => topicMatches(f, topic));
  }

  mayReceive(cn: string, topic: string): boolean {
    return this.rules(cn, 'read').some((f) => topicMatches(f, topic));
  }

  maySubscribe(cn: string, filter: string): boolean {
    return this.rules(cn, 'read').some((f) => filterCovers(f, filter));
  }
}
