import os from 'node:os';
import { ApiClientIssuer } from '../certs/api-client-issuer.js';
import type { KeyOrigin } from '../certs/issuer.js';
import { BrokerMonitor } from '../monitor/broker-monitor.js';
import { defaultStationId } from '../settings/settings-store.js';
import { resolveSecret, type ProfileFile } from './profile-file.js';

/**
 * What `esp32 provision` and `pi provision` take from a profile file and the command line alike:
 * the station's id, the operator, the issuer and the monitor identity.
 */

/** `--station-id`, else TDS_STATION_ID, else one made from the host name. */
export function stationIdFrom(flag: string | undefined, env: NodeJS.ProcessEnv = process.env): string {
  return flag ?? env.TDS_STATION_ID ?? defaultStationId();
}

/** `--operator`, else the profile file's operator, else the OS user. */
export function operatorFrom(flag: string | undefined, file: ProfileFile): string {
  return flag ?? file.operator ?? os.userInfo().username;
}

/** The issuance server the file names, its token resolved (inline or from the environment). */
export function issuerFrom(file: ProfileFile, keyOrigin: KeyOrigin, options: { timeoutMs?: number } = {}): ApiClientIssuer {
  return ApiClientIssuer.fromOptions(
    {
      baseUrl: file.server.url,
      token: resolveSecret(file.server.token, 'server.token'),
      ...(file.server.caPem ? { caPem: file.server.caPem } : {}),
      ...(options.timeoutMs ? { timeoutMs: options.timeoutMs } : {}),
    },
    keyOrigin,
  );
}

/** The station's monitor identity from the file, connected; undefined when the file has none (no online check). */
export async function monitorFrom(file: ProfileFile): Promise<BrokerMonitor | undefined> {
  const m = file.monitor;
  if (!m) return undefined;
  return BrokerMonitor.fromFiles(m, m.host ?? file.profile.brokerHost, m.port ?? file.profile.brokerPort);
}

/** Former field names the file still uses, one stderr line each. */
export function printProfileWarnings(file: ProfileFile): void {
  for (const w of file.warnings) process.stderr.write(`warning: ${w}\n`);
}
