/**
 * Pi discovery by mDNS, for real: a network namespace with only a multicast-enabled loopback (so no
 * packet leaves this machine), a peer publishing avahi-style `_workstation._tcp` / `_ssh._tcp`
 * services for a Raspberry Pi and for another host, and the station's MdnsPiDiscovery browsing.
 * Creating a namespace needs root; without it this file is skipped (with the reason printed).
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManualPiHosts, PiHostSources, macFromWorkstationName, type PiHostEvent } from '../../src/main/pi/discovery.js';
import { startProcess, type StartedProcess } from '../support/processes.js';
import { isRoot, requireTool } from '../support/tools.js';

const root = isRoot();
if (!root) console.warn('[pi discovery] skipped: creating a network namespace for mDNS needs root');

describe('manual hosts', () => {
  it('adds, updates and removes hand-entered hosts with events', async () => {
    const manual = new ManualPiHosts();
    const sources = new PiHostSources(manual);
    const events: PiHostEvent[] = [];
    const off = sources.watch((e) => events.push(e));
    const a = manual.add('192.168.1.50', 22, 'field pi');
    manual.add('192.168.1.50', 22, 'renamed');
    expect(() => manual.add('bad host', 22)).toThrow(/not a host/);
    expect(() => manual.add('pi.local', 70000)).toThrow(/out of range/);
    expect((await sources.list()).map((h) => h.name)).toEqual(['renamed']);
    expect(manual.remove(a.id)).toBe(true);
    off();
    expect(events.map((e) => e.type)).toEqual(['added', 'updated', 'removed']);
    expect(macFromWorkstationName('raspberrypi [DC:A6:32:01:02:03]')).toBe('dc:a6:32:01:02:03');
    expect(macFromWorkstationName('printer')).toBeNull();
  });
});

describe.skipIf(!root)('mDNS discovery in a network namespace', () => {
  const ns = `tds-pi-mdns-${randomBytes(3).toString('hex')}`;
  let ip: string;
  let peer: StartedProcess | undefined;

  beforeAll(() => {
    ip = requireTool('ip', 'iproute2');
    execFileSync(ip, ['netns', 'add', ns]);
    execFileSync(ip, ['-n', ns, 'link', 'set', 'lo', 'up']);
    execFileSync(ip, ['-n', ns, 'link', 'set', 'lo', 'multicast', 'on']);
    execFileSync(ip, ['-n', ns, 'route', 'add', '224.0.0.0/4', 'dev', 'lo']);
  });

  afterAll(async () => {
    await peer?.stop();
    try {
      execFileSync(ip, ['netns', 'del', ns]);
    } catch {
      /* already gone */
    }
  });

  it('finds the Raspberry Pi (MAC prefix dc:a6:32 from the workstation name) and tells it from another host', async () => {
    const fixture = path.join(import.meta.dirname, 'fixtures', 'mdns-peer.ts');
    peer = startProcess('mdns-peer', ip, ['netns', 'exec', ns, process.execPath, '--conditions=source', '--import', 'tsx', fixture, '5000'], {
      cwd: path.resolve(import.meta.dirname, '../..'),
    });
    await peer.exited();
    const events = peer
      .output()
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as PiHostEvent);
    const last = new Map<string, Extract<PiHostEvent, { host: unknown }>['host']>();
    for (const e of events) if (e.type !== 'removed') last.set(e.host.id, e.host);
    const pi = last.get('mdns:raspberrypi.local');
    const nas = last.get('mdns:nas.local');
    expect(pi, peer.output()).toBeDefined();
    expect(pi).toMatchObject({ port: 2222, name: 'raspberrypi', mac: 'dc:a6:32:01:02:03', likelyRaspberryPi: true, services: ['ssh', 'workstation'], host: '127.0.0.1' });
    expect(nas).toMatchObject({ port: 22, mac: '00:11:32:aa:bb:cc', likelyRaspberryPi: false });
  });
});
