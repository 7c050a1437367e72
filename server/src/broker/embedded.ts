/**
 * Embedded MQTT broker for standalone use (see docs/broker.md): aedes over Node `tls` with the same identity,
 * CRL and topic rules as the Mosquitto kit.
 * - mTLS: every client presents a certificate from the CA; the CRL is enforced by OpenSSL.
 * - identity = certificate CN; the client id is rewritten to the CN (as Mosquitto's
 *   `use_username_as_clientid`), so nobody can take another device's session.
 * - topics: TopicPolicy (publish, subscribe and, as a second line, every delivery).
 * - revocation: the CRL is swapped in with setSecureContext (no restart), clients still connected
 *   with a revoked certificate are disconnected at once, and every publish, subscribe and delivery
 *   checks the client's own certificate serial against the CRL, so a session on a revoked
 *   certificate never gets anything through, whatever its CN's other certificates.
 * MQTT 3.1.1 only (aedes has no MQTT 5).
 */
import tls from 'node:tls';
import type { AddressInfo, Socket } from 'node:net';
import { Aedes, type AuthenticateError, type Client } from 'aedes';
import { classifyCommonName } from '../contract/index.js';
import { normaliseSerial, validateCrl } from './crl-check.js';
import { TopicPolicy } from './policy.js';

export interface EmbeddedBrokerOptions {
  host?: string;
  /** 0 = any free port. */
  port: number;
  caPem: string;
  certPem: string;
  keyPem: string;
  crlPem: string;
  policy?: TopicPolicy;
  log?: (line: string) => void;
}

interface PeerIdentity {
  cn: string;
  serial: string;
}

function peerIdentity(conn: unknown): PeerIdentity | undefined {
  if (!(conn instanceof tls.TLSSocket) || !conn.authorized) return undefined;
  const cert = conn.getPeerCertificate();
  const cn = cert?.subject?.CN;
  if (typeof cn !== 'string' || !cert.serialNumber) return undefined;
  return { cn, serial: normaliseSerial(cert.serialNumber) };
}

function authError(message: string, returnCode: 2 | 5): AuthenticateError {
  return Object.assign(new Error(message), { returnCode }) as AuthenticateError;
}

export class EmbeddedBroker {
  readonly policy: TopicPolicy;
  private readonly identities = new WeakMap<Client, PeerIdentity>();
  private readonly live = new Set<Client>();
  private revoked = new Set<string>();
  private readonly sockets = new Set<Socket>();

  private constructor(
    private readonly aedes: Aedes,
    private readonly server: tls.Server,
    private readonly opts: EmbeddedBrokerOptions,
    policy: TopicPolicy,
  ) {
    this.policy = policy;
  }

  get port(): number {
    return (this.server.address() as AddressInfo).port;
  }

  get host(): string {
    return (this.server.address() as AddressInfo).address;
  }

  get connectedClients(): number {
    return this.live.size;
  }

  static async start(opts: EmbeddedBrokerOptions): Promise<EmbeddedBroker> {
    const crl = await validateCrl(opts.crlPem, opts.caPem);
    const policy = opts.policy ?? new TopicPolicy();
    const log = opts.log ?? ((): void => undefined);
    // The aedes hooks need the instance that is constructed after aedes itself.
    const ref: { self?: EmbeddedBroker } = {};
    const aedes = await Aedes.createBroker({
      preConnect: (client, packet, done) => {
        const id = peerIdentity(client.conn);
        if (!id) return done(new Error('no verified client certificate'), false);
        ref.self!.identities.set(client, id);
        packet.clientId = id.cn;
        done(null, true);
      },
      authenticate: (client, _username, _password, done) => {
        const id = ref.self!.identities.get(client);
        if (!id) return done(authError('no verified client certificate', 5), false);
        if (classifyCommonName(id.cn).kind === 'unknown') {
          return done(authError(`certificate CN '${id.cn}' is not a device or service identity`, 5), false);
        }
        if (ref.self!.revoked.has(id.serial) || policy.isQuarantined(id.cn)) {
          return done(authError(`certificate ${id.serial} of ${id.cn} is revoked`, 5), false);
        }
        done(null, true);
      },
      authorizePublish: (client, packet, done) => {
        const id = client ? ref.self!.valid(client) : undefined;
        if (!id || !policy.mayPublish(id.cn, packet.topic)) {
          return done(new Error(`${id?.cn ?? 'unknown client'} may not publish to ${packet.topic}`));
        }
        done(null);
      },
      authorizeSubscribe: (client, sub, done) => {
        const id = ref.self!.valid(client);
        // null = SUBACK 0x80 for this filter; the connection stays up.
        done(null, id && policy.maySubscribe(id.cn, sub.topic) ? sub : null);
      },
      authorizeForward: (client, packet) => {
        const id = ref.self!.valid(client);
        return id && policy.mayReceive(id.cn, packet.topic) ? packet : null;
      },
    });
    aedes.on('clientReady', (c) => ref.self!.live.add(c));
    aedes.on('clientDisconnect', (c) => ref.self!.live.delete(c));
    aedes.on('clientError', (c, err) => log(`[broker] ${c.id}: ${err.message}`));

    const server = tls.createServer(
      {
        key: opts.keyPem,
        cert: opts.certPem,
        ca: opts.caPem,
        crl: crl.pem,
        requestCert: true,
        // Checked by hand below so the refusal reason can be logged.
        rejectUnauthorized: false,
        minVersion: 'TLSv1.2',
      },
      (socket) => {
        if (!socket.authorized) {
          const cn = socket.getPeerCertificate()?.subject?.CN ?? '(no certificate)';
          log(`[broker] refused ${socket.remoteAddress ?? ''} ${cn}: ${String(socket.authorizationError)}`);
          socket.destroy();
          return;
        }
        aedes.handle(socket);
      },
    );
    server.on('tlsClientError', (err) => log(`[broker] TLS error: ${err.message}`));
    const self = new EmbeddedBroker(aedes, server, opts, policy);
    ref.self = self;
    const sockets = self.sockets;
    server.on('connection', (s: Socket) => {
      sockets.add(s);
      s.once('close', () => sockets.delete(s));
    });
    self.revoked = crl.revokedSerials;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(opts.port, opts.host ?? '127.0.0.1', () => {
        server.off('error', reject);
        resolve();
      });
    });
    return self;
  }

  /**
   * Installs a new CRL for new connections and disconnects every client whose certificate it revokes.
   * An invalid CRL throws and leaves the previous one in force (fail closed).
   */
  async updateCrl(crlPem: string): Promise<void> {
    const crl = await validateCrl(crlPem, this.opts.caPem);
    this.server.setSecureContext({
      key: this.opts.keyPem,
      cert: this.opts.certPem,
      ca: this.opts.caPem,
      crl: crl.pem,
      minVersion: 'TLSv1.2',
    });
    this.revoked = crl.revokedSerials;
    this.disconnectWhere((id) => crl.revokedSerials.has(id.serial));
  }

  /** The client's identity while its certificate is not revoked; undefined once it is. */
  private valid(client: Client): PeerIdentity | undefined {
    const id = this.identities.get(client);
    return id && !this.revoked.has(id.serial) ? id : undefined;
  }

  /** Denies these CNs everything and disconnects them (same meaning as the ACL's deny entries). */
  setQuarantined(cns: Iterable<string>): void {
    this.policy.setQuarantined(cns);
    this.disconnectWhere((id) => this.policy.isQuarantined(id.cn));
  }

  private disconnectWhere(pred: (id: PeerIdentity) => boolean): void {
    for (const c of [...this.live]) {
      const id = this.identities.get(c);
      if (id && pred(id)) {
        this.opts.log?.(`[broker] disconnecting ${id.cn} (certificate ${id.serial} no longer valid)`);
        c.close();
      }
    }
  }

  async close(): Promise<void> {
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    for (const c of [...this.live]) c.close();
    for (const s of this.sockets) s.destroy();
    await closed;
    await new Promise<void>((resolve) => this.aedes.close(() => resolve()));
  }
}
