import { isIP } from 'node:net';
import tls from 'node:tls';

export type BrokerAnswer = { ok: true; detail: string } | { ok: false; reason: string };

/**
 * Does something answer TLS at `host:port`? A TLS handshake without a client certificate: the
 * station only learns that a TLS server is there (devices use mutual TLS; the broker may well end
 * the session right after, for want of a client certificate, and that still counts as an answer).
 * The server's certificate is not checked here: the profile's devices check it with their CA.
 */
export function checkBrokerAnswers(host: string, port: number, timeoutMs = 5000): Promise<BrokerAnswer> {
  return new Promise((resolve) => {
    let connected = false;
    let settled = false;
    const done = (answer: BrokerAnswer): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      resolve(answer);
    };
    const socket = tls.connect({
      host: host.replace(/^\[|\]$/g, ''),
      port,
      rejectUnauthorized: false,
      ...(isIP(host.replace(/^\[|\]$/g, '')) ? {} : { servername: host }),
      ALPNProtocols: ['mqtt'],
    });
    const timer = setTimeout(() => done({ ok: false, reason: connected ? `no TLS answer within ${Math.round(timeoutMs / 1000)} s` : `no answer within ${Math.round(timeoutMs / 1000)} s` }), timeoutMs);
    socket.once('connect', () => {
      connected = true;
    });
    socket.once('secureConnect', () => {
      const cert = socket.getPeerCertificate();
      const cn = typeof cert?.subject?.CN === 'string' ? cert.subject.CN : undefined;
      done({ ok: true, detail: `${socket.getProtocol() ?? 'TLS'}${cn ? `, server certificate CN=${cn}` : ''}` });
    });
    socket.once('error', (err: NodeJS.ErrnoException) => {
      // A TLS alert (e.g. "certificate required") is the broker answering.
      if (connected && /alert/i.test(`${err.code ?? ''} ${err.message}`) && !/wrong version|packet length|unknown protocol/i.test(err.message)) {
        done({ ok: true, detail: 'TLS (the broker asks for a client certificate)' });
        return;
      }
      done({ ok: false, reason: describe(err, connected) });
    });
  });
}

function describe(err: NodeJS.ErrnoException, connected: boolean): string {
  switch (err.code) {
    case 'ECONNREFUSED':
      return 'connection refused';
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return 'unknown host name';
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
      return 'host unreachable';
    case 'ECONNRESET':
      return connected ? 'it closed the connection without TLS' : 'connection reset';
    default:
      if (connected && /wrong version|packet length|unknown protocol/i.test(err.message)) return 'it answers, but not with TLS';
      return err.code ?? err.message;
  }
}
