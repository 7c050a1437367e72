import { readFile } from 'node:fs/promises';
import { isIP } from 'node:net';
import BonjourModule from 'bonjour-service';
import { isRaspberryPiMac, parseMac } from '@tds/server/contract';

/** A host the field installer can provision: typed in by hand or found on the LAN by mDNS. */
export interface PiHostDescriptor {
  /** Stable within the source: `manual:<host>:<port>` or `mdns:<host name>`. */
  id: string;
  /** Address to connect to (host name or IP). */
  host: string;
  port: number;
  name: string | null;
  source: 'manual' | 'mdns';
  addresses: string[];
  /** When the source knows it (mDNS TXT `model`). */
  model: string | null;
  /** From the `_workstation._tcp` name ("host [aa:bb:cc:dd:ee:ff]") or the station's ARP cache. */
  mac: string | null;
  /** The MAC has a Raspberry Pi prefix, or the model says Raspberry Pi. */
  likelyRaspberryPi: boolean;
  /** mDNS service types seen for this host (`ssh`, `workstation`). */
  services: string[];
}

export type PiHostEvent = { type: 'added' | 'updated'; host: PiHostDescriptor } | { type: 'removed'; id: string };

/** Same shape as the USB serial sources: a snapshot and hot-plug style events. */
export interface PiHostSource {
  readonly name: string;
  list(): Promise<PiHostDescriptor[]>;
  watch(listener: (event: PiHostEvent) => void): () => void;
}

function looksLikePi(mac: string | null, model: string | null): boolean {
  return (mac !== null && isRaspberryPiMac(mac)) || (model?.toLowerCase().includes('raspberry pi') ?? false);
}

class Emitter {
  private readonly listeners = new Set<(e: PiHostEvent) => void>();
  on(l: (e: PiHostEvent) => void): () => void {
    this.listeners.add(l);
    return () => this.listeners.delete(l);
  }
  emit(e: PiHostEvent): void {
    for (const l of this.listeners) l(e);
  }
  get size(): number {
    return this.listeners.size;
  }
}

/** Hosts entered by hand (kept by the caller, e.g. the station settings). */
export class ManualPiHosts implements PiHostSource {
  readonly name = 'manual';
  private readonly hosts = new Map<string, PiHostDescriptor>();
  private readonly events = new Emitter();

  static idFor(host: string, port: number): string {
    return `manual:${host}:${port}`;
  }

  add(host: string, port = 22, name: string | null = null): PiHostDescriptor {
    const h = host.trim();
    if (!h || /[\s/]/.test(h)) throw new Error(`"${host}" is not a host name or address`);
    if (!Number.isInteger(port) || port < 1 || port > 65535) throw new Error(`port ${port} is out of range`);
    const id = ManualPiHosts.idFor(h, port);
    const d: PiHostDescriptor = {
      id,
      host: h,
      port,
      name,
      source: 'manual',
      addresses: isIP(h) ? [h] : [],
      model: null,
      mac: null,
      likelyRaspberryPi: false,
      services: [],
    };
    const existed = this.hosts.has(id);
    this.hosts.set(id, d);
    this.events.emit({ type: existed ? 'updated' : 'added', host: d });
    return d;
  }

  remove(id: string): boolean {
    const existed = this.hosts.delete(id);
    if (existed) this.events.emit({ type: 'removed', id });
    return existed;
  }

  async list(): Promise<PiHostDescriptor[]> {
    return [...this.hosts.values()];
  }

  watch(listener: (event: PiHostEvent) => void): () => void {
    return this.events.on(listener);
  }
}

/** IPv4 → MAC from the station's own ARP cache (Linux); empty elsewhere. */
export async function readArpCache(file = '/proc/net/arp'): Promise<Map<string, string>> {
  const map = new Map<string, string>();
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch {
    return map;
  }
  for (const line of text.split('\n').slice(1)) {
    const [ip, , flags, hw] = line.trim().split(/\s+/);
    if (!ip || !hw || flags === '0x0') continue;
    const m = parseMac(hw);
    if (m.ok) map.set(ip, m.mac);
  }
  return map;
}

/** `raspberrypi [dc:a6:32:01:02:03]` → the MAC in brackets (avahi's workstation service name). */
export function macFromWorkstationName(name: string): string | null {
  const m = /\[([0-9a-fA-F]{2}(?::[0-9a-fA-F]{2}){5})\]\s*$/.exec(name);
  if (!m) return null;
  const p = parseMac(m[1]);
  return p.ok ? p.mac : null;
}

export interface MdnsDiscoveryOptions {
  /** Passed to multicast-dns (e.g. `interface` to bind one network interface). */
  mdns?: { interface?: string; bind?: string; port?: number; ip?: string };
  /** Look MACs up in the ARP cache when mDNS does not name them. Default true. */
  useArpCache?: boolean;
  arpFile?: string;
  /** Re-query interval, ms (mDNS answers are cached by responders; default 10 s). */
  requeryMs?: number;
}

interface SeenService {
  type: string;
  name: string;
  host: string;
  port: number;
  addresses: string[];
  txt: Record<string, unknown>;
}

/**
 * LAN discovery over mDNS: `_ssh._tcp` (where to connect) and `_workstation._tcp` (avahi publishes
 * the interface MAC in its name), merged per host name. Hosts whose MAC has a Raspberry Pi prefix
 * are marked. Browsing starts with the first watcher and stops with the last.
 */
export class MdnsPiDiscovery implements PiHostSource {
  readonly name = 'mdns';
  private readonly events = new Emitter();
  private readonly services = new Map<string, SeenService>();
  private readonly known = new Map<string, PiHostDescriptor>();
  private bonjour: InstanceType<typeof BonjourModule.Bonjour> | undefined;
  private browsers: Array<ReturnType<InstanceType<typeof BonjourModule.Bonjour>['find']>> = [];
  private requery: NodeJS.Timeout | undefined;
  private arp = new Map<string, string>();

  constructor(private readonly options: MdnsDiscoveryOptions = {}) {}

  get running(): boolean {
    return this.bonjour !== undefined;
  }

  async list(): Promise<PiHostDescriptor[]> {
    return [...this.known.values()];
  }

  watch(listener: (event: PiHostEvent) => void): () => void {
    const off = this.events.on(listener);
    if (!this.bonjour) this.start();
    return () => {
      off();
      if (this.events.size === 0) this.stop();
    };
  }

  /** The whole list after every change (the Field screen's `PiDiscovery` shape). */
  watchList(listener: (hosts: PiHostDescriptor[]) => void): () => void {
    return this.watch(() => listener([...this.known.values()]));
  }

  start(): void {
    if (this.bonjour) return;
    this.bonjour = new BonjourModule.Bonjour(this.options.mdns as never, (err: Error) => {
      // Discovery is a convenience: a socket error (no multicast route) leaves manual hosts working.
      void err;
    });
    for (const type of ['ssh', 'workstation']) {
      const browser = this.bonjour.find({ type });
      browser.on('up', (s) => this.onUp(type, s));
      browser.on('down', (s) => this.onDown(type, s));
      this.browsers.push(browser);
    }
    this.requery = setInterval(() => {
      for (const b of this.browsers) b.update();
    }, this.options.requeryMs ?? 10_000);
    this.requery.unref();
  }

  stop(): void {
    if (this.requery) clearInterval(this.requery);
    this.requery = undefined;
    for (const b of this.browsers) b.stop();
    this.browsers = [];
    this.bonjour?.destroy();
    this.bonjour = undefined;
  }

  private key(type: string, name: string): string {
    return `${type}\0${name}`;
  }

  private onUp(type: string, s: InstanceType<typeof BonjourModule.Service>): void {
    const seen: SeenService = {
      type,
      name: s.name,
      host: (s.host || '').replace(/\.$/, ''),
      port: s.port,
      // No A/AAAA records in the answer: the address the answer came from is the host's.
      addresses: s.addresses && s.addresses.length > 0 ? s.addresses : s.referer ? [s.referer.address] : [],
      txt: (s.txt ?? {}) as Record<string, unknown>,
    };
    this.services.set(this.key(type, s.name), seen);
    void this.refresh(seen.host);
  }

  private onDown(type: string, s: InstanceType<typeof BonjourModule.Service>): void {
    const seen = this.services.get(this.key(type, s.name));
    this.services.delete(this.key(type, s.name));
    if (seen) void this.refresh(seen.host);
  }

  /** Rebuilds the descriptor of one host name from every service seen for it. */
  private async refresh(hostName: string): Promise<void> {
    const mine = [...this.services.values()].filter((x) => x.host === hostName);
    const id = `mdns:${hostName}`;
    if (mine.length === 0) {
      if (this.known.delete(id)) this.events.emit({ type: 'removed', id });
      return;
    }
    if (this.options.useArpCache !== false) this.arp = await readArpCache(this.options.arpFile);
    const ssh = mine.find((x) => x.type === 'ssh');
    const ws = mine.find((x) => x.type === 'workstation');
    const addresses = [...new Set(mine.flatMap((x) => x.addresses))].sort((a, b) => Number(isIP(a) === 6) - Number(isIP(b) === 6));
    const model = mine.map((x) => x.txt.model).find((m): m is string => typeof m === 'string') ?? null;
    const mac = (ws ? macFromWorkstationName(ws.name) : null) ?? addresses.map((a) => this.arp.get(a)).find((m): m is string => m !== undefined) ?? null;
    const d: PiHostDescriptor = {
      id,
      host: addresses.find((a) => isIP(a) === 4) ?? hostName,
      port: ssh?.port ?? 22,
      name: ws ? ws.name.replace(/\s*\[[^\]]*\]\s*$/, '') : (ssh?.name ?? hostName),
      source: 'mdns',
      addresses,
      model,
      mac,
      likelyRaspberryPi: looksLikePi(mac, model),
      services: [...new Set(mine.map((x) => x.type))].sort(),
    };
    const existed = this.known.has(id);
    this.known.set(id, d);
    this.events.emit({ type: existed ? 'updated' : 'added', host: d });
  }
}

/** Manual hosts and mDNS discovery as one source. */
export class PiHostSources implements PiHostSource {
  readonly name = 'pi-hosts';
  constructor(
    readonly manual: ManualPiHosts,
    readonly mdns?: MdnsPiDiscovery,
  ) {}

  async list(): Promise<PiHostDescriptor[]> {
    return [...(await this.manual.list()), ...(this.mdns ? await this.mdns.list() : [])];
  }

  watch(listener: (event: PiHostEvent) => void): () => void {
    const offs = [this.manual.watch(listener), ...(this.mdns ? [this.mdns.watch(listener)] : [])];
    return () => offs.forEach((f) => f());
  }
}
