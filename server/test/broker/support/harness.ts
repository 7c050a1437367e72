/**
 * Shared broker test harness: a throwaway PKI (test CA, devices, services, another CA, an expired
 * certificate) and a broker under test — real Mosquitto running the generated kit, or the embedded
 * aedes broker — with a BrokerPublisher driven by a test double of the CA/store.
 */
import { EmbeddedBroker } from '../../../src/broker/embedded.js';
import { writeBrokerKit } from '../../../src/broker/kit.js';
import { BrokerPublisher, type BrokerStateSource } from '../../../src/broker/publisher.js';
import { startMosquitto, type RunningMosquitto } from '../../../../test/support/mosquitto.js';
import { tempDir } from '../../../../test/support/temp.js';
import { issue, makeCa, makeCrl, type IssuedPair, type TestCa } from './pki.js';
import type { Endpoint } from './clients.js';

export type BrokerKind = 'mosquitto' | 'embedded';

export const MAC_A = 'a4:cf:12:00:00:01';
export const MAC_B = 'a4:cf:12:00:00:02';
export const MAC_C = 'a4:cf:12:00:00:03';
export const MAC_D = 'a4:cf:12:00:00:04';
export const SERVER_CN = 'tds-server-main';
export const MONITOR_CN = 'station-monitor-bench-1';
export const MONITOR2_CN = 'station-monitor-bench-2';

export interface Pki {
  ca: TestCa;
  rogue: TestCa;
  broker: IssuedPair;
  a: IssuedPair;
  b: IssuedPair;
  c: IssuedPair;
  expired: IssuedPair;
  rogueA: IssuedPair;
  server: IssuedPair;
  monitor: IssuedPair;
  monitor2: IssuedPair;
}

export async function makePki(): Promise<Pki> {
  const ca = await makeCa();
  const rogue = await makeCa('Rogue CA');
  const day = 86_400_000;
  return {
    ca,
    rogue,
    broker: await issue(ca, { cn: 'tds-broker', kind: 'server' }),
    a: await issue(ca, { cn: MAC_A }),
    b: await issue(ca, { cn: MAC_B }),
    c: await issue(ca, { cn: MAC_C }),
    expired: await issue(ca, { cn: MAC_D, notBefore: new Date(Date.now() - 10 * day), notAfter: new Date(Date.now() - day) }),
    rogueA: await issue(rogue, { cn: MAC_A }),
    server: await issue(ca, { cn: SERVER_CN }),
    monitor: await issue(ca, { cn: MONITOR_CN }),
    monitor2: await issue(ca, { cn: MONITOR2_CN }),
  };
}

/** Test double of the CA + store side: the revoked set drives the CRL and the ACL's deny entries. */
export class TestState implements BrokerStateSource {
  readonly revoked = new Map<string, string>(); // serial -> CN
  constructor(private readonly pki: Pki) {}
  caPem(): string {
    return this.pki.ca.certPem;
  }
  crlPem(): Promise<string> {
    return makeCrl(this.pki.ca, { revoked: [...this.revoked.keys()] });
  }
  aclInput() {
    return {
      services: [
        { kind: 'server' as const, cn: SERVER_CN },
        { kind: 'station' as const, cn: MONITOR_CN },
        { kind: 'station' as const, cn: MONITOR2_CN },
      ],
      quarantined: [...this.revoked.values()],
    };
  }
}

export interface Harness {
  ep: Endpoint;
  publisher: BrokerPublisher;
  state: TestState;
  kitDir?: string;
  mosquitto?: RunningMosquitto;
  /** Number of completed broker reloads so far, and a wait for the next one. */
  reloads(): number;
  waitForReload(before: number): Promise<void>;
  stop(): Promise<void>;
}

export async function startHarness(kind: BrokerKind, pki: Pki, opts: { port?: number } = {}): Promise<Harness> {
  const state = new TestState(pki);
  const crlPem = await state.crlPem();
  if (kind === 'mosquitto') {
    const dir = tempDir('tds-kit-');
    await writeBrokerKit({
      outDir: dir.path,
      installDir: dir.path,
      host: 'localhost',
      port: 8883,
      caPem: pki.ca.certPem,
      brokerCertPem: pki.broker.certPem,
      brokerKeyPem: pki.broker.keyPem,
      crlPem,
      acl: state.aclInput(),
    });
    const m = await startMosquitto(dir.path, { port: opts.port });
    const publisher = new BrokerPublisher({ state, dir: dir.path, reload: { kind: 'pid', pid: m.pid } });
    return {
      ep: { host: m.host, port: m.port, caPem: pki.ca.certPem },
      publisher,
      state,
      kitDir: dir.path,
      mosquitto: m,
      reloads: () => (m.output().match(/Reloading config/g) ?? []).length,
      async waitForReload(before) {
        const deadline = Date.now() + 5_000;
        while ((m.output().match(/Reloading config/g) ?? []).length <= before) {
          if (Date.now() > deadline) throw new Error('mosquitto did not reload');
          await quiet(20);
        }
      },
      async stop() {
        await m.stop();
        dir.remove();
      },
    };
  }
  const broker = await EmbeddedBroker.start({
    port: opts.port ?? 0,
    caPem: pki.ca.certPem,
    certPem: pki.broker.certPem,
    keyPem: pki.broker.keyPem,
    crlPem,
  });
  const publisher = new BrokerPublisher({ state, embedded: broker });
  return {
    ep: { host: '127.0.0.1', port: broker.port, caPem: pki.ca.certPem },
    publisher,
    state,
    // The embedded broker swaps the CRL inside publish().
    reloads: () => 0,
    waitForReload: async () => undefined,
    stop: () => broker.close(),
  };
}

export const quiet = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Polls `probe` every 100 ms until it gives a truthy value (returned) or `timeoutMs` passes (throws, naming `what`). */
export async function until<T>(what: string, probe: () => Promise<T | undefined | false>, timeoutMs = 8_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await quiet(100);
  }
}
