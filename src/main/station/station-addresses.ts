import os from 'node:os';
import type { StationAddress } from '../../shared/views.js';

/**
 * This machine's addresses, for "the address devices use to reach the station": LAN addresses
 * first (IPv4, then IPv6 without link-local ones), loopback last (it only works for simulated boards).
 */
export function stationAddresses(interfaces: NodeJS.Dict<os.NetworkInterfaceInfo[]> = os.networkInterfaces()): StationAddress[] {
  const out: StationAddress[] = [];
  for (const [name, infos] of Object.entries(interfaces)) {
    for (const i of infos ?? []) {
      if (i.family === 'IPv6' && (i.address.toLowerCase().startsWith('fe80:') || i.scopeid)) continue;
      out.push({ address: i.address, family: i.family, interface: name, loopback: i.internal });
    }
  }
  const rank = (a: StationAddress): number => (a.loopback ? 2 : 0) + (a.family === 'IPv6' ? 1 : 0);
  return out.sort((a, b) => rank(a) - rank(b));
}
