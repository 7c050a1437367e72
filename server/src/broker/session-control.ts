/**
 * Cutting off live sessions on Mosquitto 2.0.x. Mosquitto checks the CRL only when a connection is
 * opened, and its ACL knows a client only by name (the certificate CN), which a revoked certificate
 * shares with its successor. So after every publication that revokes a certificate the server:
 *  1. waits until the broker enforces the reload: the new ACL grants this client one fresh marker
 *     topic, and a message published there comes back only once that ACL — and the CRL, reloaded
 *     in the same step — is in force;
 *  2. disconnects every session of the certificate's CN through the dynamic-security plugin
 *     (`createClient` + `deleteClient` of that name = `mosquitto_kick_client_by_username`).
 * A reconnect with the revoked certificate is then refused by the CRL; a device on its successor
 * certificate just reconnects. The plugin knows no clients (each is deleted in the same request
 * that created it), so every access decision stays with the acl_file.
 */
import { randomBytes } from 'node:crypto';
import { DYNSEC_CONTROL_TOPIC, RELOAD_MARKER_ROOT } from './policy.js';

/** What the publisher needs to cut live sessions off after a reload. */
export interface LiveSessionControl {
  /** CN of the controlling client (its ACL block carries the reload marker). */
  readonly cn: string;
  /** A fresh marker topic for the next ACL. */
  newMarker(): string;
  /** Resolves once the broker delivers a message on `marker` to this client (the new ACL is in force). */
  awaitMarker(marker: string): Promise<void>;
  /** Disconnects every live session of these identities; resolves once the broker confirms. */
  disconnect(cns: readonly string[]): Promise<void>;
}

/** The MQTT client it rides on (the server's own ServiceMqttClient). */
export interface ControlClient {
  readonly connected: boolean;
  publish(topic: string, payload: string, opts: { qos: 0 | 1 }): Promise<void>;
  on(event: 'message', listener: (m: { topic: string; payload: Buffer }) => void): unknown;
}

const RESPONSE_TOPIC = `${DYNSEC_CONTROL_TOPIC}/response`;

interface DynsecResponse {
  command?: string;
  error?: string;
  correlationData?: string;
}

export class MosquittoSessionControl implements LiveSessionControl {
  /** Subscriptions the client must hold. */
  static readonly subscriptions: readonly string[] = [RESPONSE_TOPIC, `${RELOAD_MARKER_ROOT}/+`];

  private readonly markerWaiters = new Map<string, () => void>();
  private readonly replyWaiters = new Map<string, (r: DynsecResponse) => void>();
  private readonly timeoutMs: number;

  constructor(
    private readonly client: ControlClient,
    readonly cn: string,
    opts: { timeoutMs?: number } = {},
  ) {
    this.timeoutMs = opts.timeoutMs ?? 5_000;
    client.on('message', (m) => this.onMessage(m.topic, m.payload));
  }

  newMarker(): string {
    return `${RELOAD_MARKER_ROOT}/${randomBytes(12).toString('hex')}`;
  }

  async awaitMarker(marker: string): Promise<void> {
    if (!this.client.connected) throw new Error('the server is not connected to the broker');
    const seen = new Promise<void>((resolve) => this.markerWaiters.set(marker, resolve));
    const deadline = Date.now() + this.timeoutMs;
    try {
      // Published again and again: until the reload, the broker drops it (the old ACL does not grant it).
      for (;;) {
        if (this.client.connected) await this.client.publish(marker, '', { qos: 0 }).catch(() => undefined);
        const got = await Promise.race([seen.then(() => true), delay(10).then(() => false)]);
        if (got) return;
        if (Date.now() > deadline) {
          throw new Error(
            this.client.connected
              ? `the broker did not apply the new ACL within ${this.timeoutMs} ms (did the reload fail? see the broker's log)`
              : 'the server is not connected to the broker',
          );
        }
      }
    } finally {
      this.markerWaiters.delete(marker);
    }
  }

  async disconnect(cns: readonly string[]): Promise<void> {
    const others = [...new Set(cns)].filter((cn) => cn !== this.cn);
    if (others.length > 0) await this.kick(others);
    // Our own name: its certificate may be the revoked one, so our own session goes too; no answer
    // can reach a client that was just disconnected, so this one is sent last and not awaited.
    if (cns.includes(this.cn) && this.client.connected) {
      await this.client.publish(DYNSEC_CONTROL_TOPIC, JSON.stringify({ commands: kickCommands(this.cn, 'self') }), { qos: 0 }).catch(() => undefined);
    }
  }

  private async kick(cns: readonly string[]): Promise<void> {
    if (!this.client.connected) throw new Error('the server is not connected to the broker');
    const nonce = randomBytes(8).toString('hex');
    const ids = cns.map((_, i) => `${nonce}-${i}`);
    const replies = ids.map((id) => new Promise<DynsecResponse>((resolve) => this.replyWaiters.set(id, resolve)));
    const commands = cns.flatMap((cn, i) => kickCommands(cn, ids[i]!));
    let timer: NodeJS.Timeout | undefined;
    try {
      await this.client.publish(DYNSEC_CONTROL_TOPIC, JSON.stringify({ commands }), { qos: 1 });
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(
          () => reject(new Error(`no answer from the broker's dynamic-security plugin within ${this.timeoutMs} ms (is it loaded? rebuild the kit)`)),
          this.timeoutMs,
        );
      });
      const answers = await Promise.race([Promise.all(replies), timeout]);
      const failed = answers.map((a, i) => (a.error ? `${cns[i]}: ${a.error}` : undefined)).filter(Boolean);
      if (failed.length > 0) throw new Error(`the broker did not disconnect ${failed.join('; ')}`);
    } finally {
      clearTimeout(timer);
      for (const id of ids) this.replyWaiters.delete(id);
    }
  }

  private onMessage(topic: string, payload: Buffer): void {
    if (topic === RESPONSE_TOPIC) {
      let body: { responses?: DynsecResponse[] };
      try {
        body = JSON.parse(payload.toString('utf8')) as { responses?: DynsecResponse[] };
      } catch {
        return;
      }
      // createClient and deleteClient share the correlation id; the deleteClient answer says
      // whether the sessions were disconnected.
      for (const r of body.responses ?? []) {
        if (r.command === 'deleteClient' && r.correlationData) this.replyWaiters.get(r.correlationData)?.(r);
      }
      return;
    }
    this.markerWaiters.get(topic)?.();
  }
}

/**
 * createClient then deleteClient of the same name: the plugin disconnects every session of a
 * client it deletes. (A client of that name that already existed is deleted all the same.)
 */
function kickCommands(cn: string, correlationData: string): object[] {
  return [
    { command: 'createClient', username: cn, correlationData },
    { command: 'deleteClient', username: cn, correlationData },
  ];
}

const delay = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
