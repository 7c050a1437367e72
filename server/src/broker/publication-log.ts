/**
 * What the admin console shows of the brokers: which are configured (the Mosquitto kit recorded in
 * broker.json, the embedded broker) and the outcome of the last CRL/ACL publication to each (CRL
 * number, time, reload done or the error). Kept in memory by the running server: it is the state of
 * this process's publications.
 */
import type { BrokerConfig } from './broker-config.js';
import { formatReloadTarget } from './reloader.js';

export interface PublicationOutcome {
  at: string;
  crlNumber: number | null;
  result: 'ok' | 'error';
  /** The reload that followed (Mosquitto: pid/pidfile/command; none when the operator reloads). */
  reloaded: boolean;
  /** CNs whose live sessions were disconnected. */
  disconnected: number;
  error: string | null;
}

export interface BrokerStatus {
  mosquitto: {
    configured: boolean;
    host: string | null;
    port: number | null;
    publishDir: string | null;
    reload: string | null;
    sessionControl: boolean;
    builtAt: string | null;
    lastPublication: PublicationOutcome | null;
  };
  embedded: { running: boolean; host: string | null; port: number | null; lastPublication: PublicationOutcome | null };
  /** The server's MQTT client (presence, telemetry, renewal delivery). */
  mqttClient: { enabled: boolean; connected: boolean };
}

const iso = (d: Date): string => d.toISOString().replace(/\.\d{3}Z$/, 'Z');

export class PublicationLog {
  mosquitto: PublicationOutcome | null = null;
  embedded: PublicationOutcome | null = null;

  /** Records the outcome of one publication run for each broker it went to. */
  record(targets: { mosquitto?: BrokerConfig; embedded: boolean }, crlNumber: number | null, outcome: { disconnected: number } | Error): void {
    const base = {
      at: iso(new Date()),
      crlNumber,
      result: outcome instanceof Error ? ('error' as const) : ('ok' as const),
      disconnected: outcome instanceof Error ? 0 : outcome.disconnected,
      error: outcome instanceof Error ? outcome.message.slice(0, 300) : null,
    };
    if (targets.mosquitto?.publishDir) this.mosquitto = { ...base, reloaded: !(outcome instanceof Error) && targets.mosquitto.reload.kind !== 'none' };
    if (targets.embedded) this.embedded = { ...base, reloaded: !(outcome instanceof Error) };
  }

  status(kit: BrokerConfig | undefined, embedded: { host: string; port: number } | undefined, mqtt: { enabled: boolean; connected: boolean }): BrokerStatus {
    return {
      mosquitto: {
        configured: kit !== undefined,
        host: kit?.host ?? null,
        port: kit?.port ?? null,
        publishDir: kit?.publishDir ?? null,
        reload: kit ? formatReloadTarget(kit.reload) : null,
        sessionControl: kit?.sessionControl ?? false,
        builtAt: kit?.builtAt ?? null,
        lastPublication: this.mosquitto,
      },
      embedded: { running: embedded !== undefined, host: embedded?.host ?? null, port: embedded?.port ?? null, lastPublication: this.embedded },
      mqttClient: mqtt,
    };
  }
}
