import type { Profile } from '../../shared/profile.js';
import type { ReprovisionPolicy } from '../certs/device-identity.js';
import { JobFailure } from '../jobs/job-failure.js';
import type { Esp32JobSettings } from './provision-job.js';

/** What a run decides besides the profile: who, where, and what to do about an active certificate. */
export interface Esp32RunChoices {
  operator: string;
  stationId: string;
  reprovision: ReprovisionPolicy;
  /** A gateway code scanned or typed for this board: used as is instead of the profile's template. */
  gatewayCode?: string;
}

/** The profile's ESP32 section, or PROFILE_INVALID saying it is missing. */
export function requireEsp32(profile: Profile): NonNullable<Profile['esp32']> {
  if (profile.esp32) return profile.esp32;
  throw new JobFailure('PROFILE_INVALID', `Profile "${profile.name}" has no ESP32 settings (firmware bundle, Wi-Fi).`, {
    hint: 'Add them to the profile (Settings → Profiles, or the esp32 section of a profile file).',
  });
}

/**
 * The one mapping from a profile to the ESP32 job's settings (bench screen and headless CLI alike).
 * `wifiPassword` comes from where the profile's secrets live (secret store, environment); '' = open network.
 */
export function esp32JobSettings(profile: Profile, wifiPassword: string, run: Esp32RunChoices, overrides: Partial<Esp32JobSettings> = {}): Esp32JobSettings {
  const esp = requireEsp32(profile);
  if (esp.birthIdentity && profile.keyMode !== 'station') {
    throw new JobFailure('PROFILE_INVALID', `Profile "${profile.name}" gives boards a birth identity, which needs station-made keys (key mode "station").`, {
      hint: 'Set the key mode to "station", or turn the birth identity off.',
    });
  }
  return {
    accountId: profile.accountId,
    // A scanned code is a template without placeholders.
    codeTemplate: run.gatewayCode ?? profile.codeTemplate,
    nameTemplate: profile.nameTemplate,
    broker: { host: profile.brokerHost, port: profile.brokerPort },
    wifi: { ssid: esp.wifiSsid, password: wifiPassword },
    ...(esp.modbus ? { modbus: esp.modbus } : {}),
    ...(esp.maxBaud !== undefined ? { maxBaud: esp.maxBaud } : {}),
    resetMode: esp.resetMode,
    onlineTimeoutMs: esp.onlineTimeoutSec * 1000,
    keyType: profile.keyType,
    keyMode: profile.keyMode,
    ...(esp.birthIdentity ? { identity: 'birth' as const } : {}),
    operator: run.operator,
    stationId: run.stationId,
    reprovision: run.reprovision,
    ...(profile.validityDays ? { validityDays: profile.validityDays } : {}),
    ...overrides,
  };
}
