/**
 * `/readyz` for a load balancer: ready while the database answers, the CA is loaded and the server
 * is not draining. Further probes (e.g. a hardware token) are added with `add()`.
 */
import type { CertificateAuthority } from '../ca/authority.js';
import type { StoreBackend } from '../store/backend.js';

export interface ReadinessReport {
  ready: boolean;
  draining: boolean;
  /** Each probe: "ok" or why not. */
  checks: Record<string, string>;
}

export class Readiness {
  draining = false;
  private readonly probes = new Map<string, () => Promise<void>>();

  constructor(o: { store: StoreBackend; ca: CertificateAuthority | undefined }) {
    this.add('database', () => o.store.ping());
    this.add('ca', async () => {
      if (!o.ca) throw new Error('not loaded');
    });
  }

  /** A probe rejects (with the reason) when this instance should get no traffic. */
  add(name: string, probe: () => Promise<void>): void {
    this.probes.set(name, probe);
  }

  async report(): Promise<ReadinessReport> {
    const checks: Record<string, string> = {};
    await Promise.all(
      [...this.probes].map(async ([name, probe]) => {
        try {
          await probe();
          checks[name] = 'ok';
        } catch (err) {
          checks[name] = name === 'database' ? 'unavailable' : (err as Error).message;
        }
      }),
    );
    const ready = !this.draining && Object.values(checks).every((v) => v === 'ok');
    return { ready, draining: this.draining, checks };
  }
}
