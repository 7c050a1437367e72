/**
 * The server's MQTT side: one service-identity client feeding presence, telemetry storage and the
 * renewal protocol. Everything arrives through the authenticated topic (`tds_new/devices/{mac}/…`,
 * where the broker guarantees mac = the publisher's certificate CN).
 */
import { parseDeviceTopic, wildcard } from '../contract/index.js';
import { PresenceTracker, type PresenceSink } from './presence.js';
import { RenewalProtocol, type RenewalBackend, type RenewalEvents } from './renewal.js';
import { ServiceMqttClient, type ServiceClientOptions, type ServiceMessage } from './service-client.js';
import { parseTelemetry, TelemetryWriter, type TelemetrySink } from './telemetry.js';

export interface MqttServiceOptions {
  connection: Omit<ServiceClientOptions, 'subscriptions' | 'log'>;
  presence: { freshnessMs: number; sink?: PresenceSink; lastSeenWriteMs?: number; timeoutsInStore?: boolean };
  telemetry: { sink: TelemetrySink; retentionDays: number; flushEveryMs?: number };
  renewal?: { backend: RenewalBackend } & RenewalEvents;
  /** More topic filters to subscribe to (e.g. the broker's control answers); their messages reach `client` listeners. */
  extraSubscriptions?: readonly string[];
  /**
   * Several server instances: the device topics are read through this MQTT shared-subscription group
   * (`$share/<group>/…`), so the broker hands each message to one of them.
   */
  shareGroup?: string;
  log?: (line: string) => void;
}

export class MqttService {
  readonly client: ServiceMqttClient;
  readonly presence: PresenceTracker;
  readonly telemetry: TelemetryWriter;
  readonly renewal: RenewalProtocol | undefined;
  private readonly log: (line: string) => void;

  constructor(opts: MqttServiceOptions) {
    this.log = opts.log ?? ((): void => undefined);
    const deviceTopics = [wildcard.status, wildcard.telemetry, wildcard.logs, wildcard.certCsr, wildcard.certAck];
    this.client = new ServiceMqttClient({
      ...opts.connection,
      // The only consumer keeps its session; shared consumers do not (service-client.ts says why).
      cleanSession: opts.shareGroup !== undefined,
      subscriptions: [...deviceTopics.map((t) => (opts.shareGroup ? `$share/${opts.shareGroup}/${t}` : t)), ...(opts.extraSubscriptions ?? [])],
      log: this.log,
    });
    this.presence = new PresenceTracker({
      freshnessMs: opts.presence.freshnessMs,
      sink: opts.presence.sink,
      lastSeenWriteMs: opts.presence.lastSeenWriteMs,
      timeoutsInStore: opts.presence.timeoutsInStore,
      log: this.log,
    });
    this.telemetry = new TelemetryWriter({
      sink: opts.telemetry.sink,
      retentionDays: opts.telemetry.retentionDays,
      flushEveryMs: opts.telemetry.flushEveryMs,
      log: this.log,
    });
    this.renewal = opts.renewal
      ? new RenewalProtocol({ ...opts.renewal, publish: (t, p) => this.client.publish(t, p, { qos: 1 }), log: this.log })
      : undefined;
    this.client.on('message', (m) => this.dispatch(m));
  }

  start(): void {
    this.presence.start();
    this.telemetry.start();
    this.client.start();
  }

  async stop(): Promise<void> {
    await this.client.stop();
    await this.telemetry.stop();
    this.presence.stop();
  }

  /** Sends `cert_renew` to the device; throws when the broker is not reachable right now. */
  requestRenewal(mac: string, commandId?: string): Promise<string> {
    if (!this.renewal) throw new Error('certificate renewal over MQTT is not enabled on this server');
    return this.renewal.ask(mac, commandId);
  }

  private dispatch(m: ServiceMessage): void {
    const t = parseDeviceTopic(m.topic);
    if (!t) return;
    const fail = (err: unknown): void => this.log(`[mqtt] ${m.topic}: ${(err as Error).message}`);
    switch (t.kind) {
      case 'status':
        this.presence.onStatus(t.mac, m.payload.toString('utf8').trim(), m.retain);
        return;
      case 'telemetry': {
        // A retained reading is old news; storing it again on every reconnect would duplicate it.
        if (m.retain) return;
        const r = parseTelemetry(t.mac, m.payload);
        if (r.ok) {
          this.telemetry.add(r.row);
          this.presence.onActivity(t.mac, r.row.firmwareVersion ?? undefined);
        } else {
          this.telemetry.rejected++;
          this.presence.onActivity(t.mac);
        }
        return;
      }
      case 'logs':
        if (!m.retain) this.presence.onActivity(t.mac);
        return;
      case 'cert/csr':
        if (m.retain) return;
        this.presence.onActivity(t.mac);
        this.renewal?.onCsr(t.mac, m.payload).catch(fail);
        return;
      case 'cert/ack':
        if (m.retain) return;
        this.presence.onActivity(t.mac);
        this.renewal?.onAck(t.mac, m.payload).catch(fail);
        return;
      default:
        return;
    }
  }
}
