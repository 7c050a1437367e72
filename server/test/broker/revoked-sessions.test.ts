/**
 * A session opened with a certificate that is later revoked — by a revocation or by a plain renewal
 * (the old certificate is superseded) — never publishes or receives anything again, on Mosquitto
 * (the kit made by `tds-server broker-kit`) and on the embedded broker, also after the MAC gets a
 * new certificate; the new certificate works. Proven by delivery with the real command-line clients:
 * the old session is a `mosquitto_pub -l` (lines written to its stdin are publications) or a
 * `mosquitto_sub`, the observer is a `mosquitto_sub` with the monitor identity, commands come from a
 * `mosquitto_pub` with a server identity, and storage is read through the REST API.
 *
 * Regression: Mosquitto kept such a session open (it checks the CRL only at connect time) and its
 * deny entry, keyed by the MAC, was lifted as soon as the MAC had a new certificate; a renewal never
 * added one at all.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ProvisionResponse } from '../../src/contract/index.js';
import { topics } from '../../src/contract/index.js';
import { startBackend, type Backend } from '../../../test/support/backend.js';
import type { StartedProcess } from '../../../test/support/processes.js';
import { tempDir } from '../../../test/support/temp.js';
import { mosquittoClient, mosquittoPub, writeIdentityFiles, type Endpoint, type Identity } from './support/clients.js';
import { quiet } from './support/harness.js';

type Files = { ca: string; cert: string; key: string };

describe.each(['mosquitto', 'embedded'] as const)('sessions on revoked certificates on %s', (kind) => {
  let b: Backend;
  let ep: Endpoint;
  let observer: StartedProcess;
  let commander: Files;
  const files = tempDir('tds-revoked-sessions-');
  const started: StartedProcess[] = [];
  const start = (p: StartedProcess): StartedProcess => {
    started.push(p);
    return p;
  };
  const mac = (n: number): string => `a4:cf:12:1${kind === 'mosquitto' ? 1 : 2}:00:0${n}`;
  let value = 1000;

  const identity = (r: ProvisionResponse): Identity => ({ certPem: r.certificate_pem, keyPem: r.private_key_pem! });
  const provision = (m: string): Promise<ProvisionResponse> =>
    b.server.client().provision({ mac_address: m, codigo: `RS-${m.slice(-2)}`, nome: `revoked session ${m.replace(/:/g, '')}`, conta_id: b.server.contaId });
  const reading = (m: string, valor: number): string => JSON.stringify({ timestamp: Date.now(), valor, unidade: 'V', gateway_mac: m });
  const stored = async (gatewayId: number, valor: number): Promise<boolean> =>
    (await b.server.client().telemetry(gatewayId, { limit: 1000 })).results.some((r) => r.valor === valor);
  /** Stored readings are written in batches (100 ms). */
  const eventuallyStored = async (gatewayId: number, valor: number): Promise<boolean> => {
    const deadline = Date.now() + 5_000;
    while (!(await stored(gatewayId, valor))) {
      if (Date.now() > deadline) return false;
      await quiet(100);
    }
    return true;
  };
  const observed = (valor: number): boolean => observer.output().includes(`"valor":${valor},`);
  /** Repeats `act` until `done` (a client just started may not have subscribed yet). */
  const until = async (what: string, act: () => unknown, done: () => boolean): Promise<void> => {
    const deadline = Date.now() + 8_000;
    while (!done()) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await act();
      await quiet(200);
    }
  };
  const command = async (m: string, id: string): Promise<void> => {
    const r = await mosquittoPub(ep, commander, ['-i', 'tds-server-e2e', '-t', topics.commands(m), '-m', JSON.stringify({ cmd: 'ping', id }), '-q', '1']);
    expect(r.code, r.output).toBe(0);
  };

  /** A long-lived device session that publishes every line written to its stdin as telemetry. */
  const publisherSession = async (m: string, id: Identity): Promise<{ publish(valor: number): void }> => {
    const f = writeIdentityFiles(files.path, `${m.replace(/:/g, '')}-${value}`, ep, id);
    const p = start(mosquittoClient('mosquitto_pub', ep, f, ['-i', m, '-t', topics.telemetry(m), '-l', '-q', '1']));
    return { publish: (valor) => p.child.stdin!.write(reading(m, valor) + '\n') };
  };
  /** A long-lived device session subscribed to its commands. */
  const subscriberSession = async (m: string, id: Identity): Promise<StartedProcess> => {
    const f = writeIdentityFiles(files.path, `${m.replace(/:/g, '')}-${value}`, ep, id);
    return start(mosquittoClient('mosquitto_sub', ep, f, ['-i', m, '-t', topics.commands(m), '-q', '1']));
  };

  beforeAll(async () => {
    b = await startBackend({ broker: kind, serverIdentity: true });
    ep = { host: b.broker.host, port: b.broker.port, caPem: b.broker.caPem };
    commander = writeIdentityFiles(files.path, 'commander', ep, b.serverIdentity!);
    const mon = writeIdentityFiles(files.path, 'monitor', ep, b.monitor);
    observer = start(mosquittoClient('mosquitto_sub', ep, mon, ['-i', b.monitor.clientId, '-t', topics.telemetry('+'), '-v', '-q', '1']));
  });
  afterAll(async () => {
    for (const p of started) await p.stop();
    await b?.stop();
    files.remove();
  });

  // The two ways a certificate stops being valid while its session may still be open.
  const endings = {
    revoke: async (old: ProvisionResponse, m: string): Promise<ProvisionResponse> => {
      await b.server.client('admin').revoke(old.gateway_id, 'keyCompromise');
      // Nothing may get through before the MAC has a new certificate either.
      return { ...old, mac_address: m };
    },
    renew: async (old: ProvisionResponse): Promise<ProvisionResponse> => b.server.client('operator').renew(old.gateway_id),
  } as const;

  it.each(['revoke', 'renew'] as const)('after %s, the old session publishes nothing that is delivered or stored, also once the MAC has a new certificate; the new certificate works', async (ending) => {
    const m = mac(ending === 'revoke' ? 1 : 2);
    const first = await provision(m);
    const old = await publisherSession(m, identity(first));
    const v = (value += 10);
    await until('the first reading', () => old.publish(v), () => observed(v));
    expect(await eventuallyStored(first.gateway_id, v)).toBe(true);

    const afterEnd = await endings[ending](first, m);
    old.publish(v + 1);
    // Revoked: the MAC gets a new certificate (the hole re-opened the old session's access here).
    const current = ending === 'revoke' ? await provision(m) : afterEnd;
    expect(current.serial_number).not.toBe(first.serial_number);
    old.publish(v + 2);
    await quiet(800);
    old.publish(v + 3);
    await quiet(300);

    // The new certificate works: delivered and stored.
    const fresh = await publisherSession(m, identity(current));
    await until('a reading with the new certificate', () => fresh.publish(v + 4), () => observed(v + 4));
    await quiet(500);
    for (const lost of [v + 1, v + 2, v + 3]) {
      expect(observed(lost), `reading ${lost} of the old session was delivered`).toBe(false);
      expect(await stored(current.gateway_id, lost), `reading ${lost} of the old session was stored`).toBe(false);
    }
    expect(await eventuallyStored(current.gateway_id, v + 4)).toBe(true);
  });

  it.each(['revoke', 'renew'] as const)('after %s, the old session receives nothing, also once the MAC has a new certificate; the new certificate does', async (ending) => {
    const m = mac(ending === 'revoke' ? 3 : 4);
    const first = await provision(m);
    const old = await subscriberSession(m, identity(first));
    const tag = `c${(value += 10)}`;
    await until('the first command', () => command(m, `${tag}-before`), () => old.output().includes(`${tag}-before`));

    const afterEnd = await endings[ending](first, m);
    await command(m, `${tag}-after-${ending}`);
    const current = ending === 'revoke' ? await provision(m) : afterEnd;
    await command(m, `${tag}-new-certificate`);
    await quiet(800);
    await command(m, `${tag}-later`);

    const fresh = await subscriberSession(m, identity(current));
    await until('a command to the new certificate', () => command(m, `${tag}-to-new`), () => fresh.output().includes(`${tag}-to-new`));
    await quiet(300);
    for (const lost of ['after-', 'new-certificate', 'later', 'to-new']) {
      expect(old.output().includes(`${tag}-${lost}`), `the old session received ${tag}-${lost}`).toBe(false);
    }
  });
});
