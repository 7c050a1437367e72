/**
 * The server's own MQTT client (service identity `tds-server-<name>`). Reconnects with exponential
 * backoff and jitter (mqtt.js only knows a fixed period), and subscribes again on every connect, so
 * after a broker restart the retained statuses arrive again and the presence state is rebuilt.
 * As the only consumer it keeps a persistent session (`cleanSession: false`): what devices publish
 * while it is away — its own restart, or the seconds after a broker restart before it is back — waits
 * for it at the broker (QoS 1) instead of being dropped. Several instances sharing the topics use
 * clean sessions instead: the broker hands a shared-subscription message even to an absent member's
 * persistent session, where it would wait until that instance returns.
 */
import { EventEmitter } from 'node:events';
import { isIP } from 'node:net';
import mqtt, { type IClientPublishOptions, type MqttClient } from 'mqtt';

export interface ServiceClientOptions {
  host: string;
  port: number;
  caPem: string;
  certPem: string;
  keyPem: string;
  /** = the certificate CN (Mosquitto rewrites it anyway; aedes does the same). */
  clientId: string;
  /** TLS server name to verify; defaults to `host`. */
  servername?: string;
  subscriptions: readonly string[];
  /** Default true; false keeps the session (subscriptions, queued QoS 1 messages) while disconnected. */
  cleanSession?: boolean;
  keepaliveSec?: number;
  backoff?: { initialMs?: number; maxMs?: number };
  log?: (line: string) => void;
}

export interface ServiceMessage {
  topic: string;
  payload: Buffer;
  retain: boolean;
}

export interface ServiceClientEvents {
  message: [ServiceMessage];
  connected: [];
  disconnected: [];
}

export class ServiceMqttClient extends EventEmitter<ServiceClientEvents> {
  private client: MqttClient | undefined;
  private attempt = 0;
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;

  constructor(private readonly opts: ServiceClientOptions) {
    super();
  }

  get connected(): boolean {
    return this.client?.connected ?? false;
  }

  start(): void {
    this.stopped = false;
    const o = this.opts;
    const client = mqtt.connect({
      host: o.host,
      port: o.port,
      protocol: 'mqtts',
      ca: o.caPem,
      cert: o.certPem,
      key: o.keyPem,
      // SNI must not carry an IP address (RFC 6066); Node then checks the IP SAN against host.
      servername: o.servername ?? (isIP(o.host) ? undefined : o.host),
      clientId: o.clientId,
      // aedes speaks MQTT 3.1.1 only; nothing here needs MQTT 5.
      protocolVersion: 4,
      clean: o.cleanSession ?? true,
      keepalive: o.keepaliveSec ?? 30,
      reconnectPeriod: 0,
      resubscribe: false,
      connectTimeout: 10_000,
    });
    this.client = client;
    let lastError = '';
    client.on('connect', () => {
      this.attempt = 0;
      lastError = '';
      client.subscribe([...o.subscriptions], { qos: 1 }, (err) => {
        if (err) o.log?.(`[mqtt] subscribe failed: ${err.message}`);
      });
      o.log?.(`[mqtt] connected to ${o.host}:${o.port} as ${o.clientId}`);
      this.emit('connected');
    });
    client.on('message', (topic, payload, packet) => this.emit('message', { topic, payload, retain: packet.retain }));
    client.on('error', (err) => {
      // One line per kind of failure while reconnecting, not one per attempt.
      if (err.message !== lastError) o.log?.(`[mqtt] ${err.message}`);
      lastError = err.message;
    });
    client.on('close', () => {
      this.emit('disconnected');
      this.scheduleReconnect();
    });
  }

  private scheduleReconnect(): void {
    if (this.stopped || this.timer) return;
    const initial = this.opts.backoff?.initialMs ?? 500;
    const max = this.opts.backoff?.maxMs ?? 5_000;
    const base = Math.min(max, initial * 2 ** Math.min(this.attempt, 16));
    const delay = Math.round(base / 2 + Math.random() * (base / 2));
    this.attempt++;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      if (!this.stopped) this.client?.reconnect();
    }, delay);
    this.timer.unref();
  }

  async publish(topic: string, payload: string, opts: IClientPublishOptions = { qos: 1 }): Promise<void> {
    const c = this.client;
    if (!c?.connected) throw new Error('not connected to the MQTT broker');
    await c.publishAsync(topic, payload, opts);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    const c = this.client;
    this.client = undefined;
    if (c) await new Promise<void>((resolve) => c.end(true, {}, () => resolve()));
  }
}
