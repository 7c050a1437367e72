import type { CertificateSummary } from '@tds/server/contract';
import type { BoardRegistration } from '../../shared/views.js';
import type { StationLog } from '../log/station-log.js';
import type { ServerLink } from './server-link.js';

/**
 * What the station knows about a MAC without touching the board: the server's view (an active
 * certificate → provisioned; its last certificate revoked → revoked, with the reason; otherwise new),
 * or, when the server cannot be asked, this station's log (a job that succeeded for that MAC).
 */
export class RegistrationLookup {
  constructor(
    private readonly server: ServerLink,
    private readonly log: StationLog,
  ) {}

  async of(mac: string): Promise<BoardRegistration | null> {
    try {
      return await this.fromServer(mac);
    } catch {
      return this.fromLog(mac);
    }
  }

  private async fromServer(mac: string): Promise<BoardRegistration> {
    const page = await this.server.call((c) => c.listGateways({ mac }));
    const gateway = page.results.find((g) => g.mac === mac);
    if (!gateway) return { state: 'new', serial: null, at: null, reason: null, source: 'server' };
    const active = gateway.active_certificate;
    if (active && !active.is_revoked) return { state: 'provisioned', serial: active.serial_number, at: active.issued_at, reason: null, source: 'server' };
    const detail = await this.server.call((c) => c.getGateway(gateway.id));
    const last = newest(detail.certificados);
    if (last?.is_revoked) return { state: 'revoked', serial: last.serial_number, at: last.revoked_at, reason: last.revoke_reason, source: 'server' };
    return { state: 'new', serial: null, at: null, reason: null, source: 'server' };
  }

  private fromLog(mac: string): BoardRegistration | null {
    const [done] = this.log.query({ mac, result: 'succeeded', limit: 1 });
    if (!done) return null;
    return { state: 'provisioned', serial: done.certSerial, at: done.endedAt, reason: null, source: 'log' };
  }
}

function newest(certs: readonly CertificateSummary[]): CertificateSummary | undefined {
  return [...certs].sort((a, b) => b.issued_at.localeCompare(a.issued_at) || b.id - a.id)[0];
}
