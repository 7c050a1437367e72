import { KEY_TYPES } from '@tds/server/contract';
import { z } from 'zod';
import { PiAgentSettingsSchema, PiModbusSchema, zRemotePath } from './pi-agent.js';
import { V, zHost, zIntRange, zName, zPort } from './validation.js';

/** A provisioning profile as the Settings screen edits it; server and monitor come from the station settings. */

export const KEY_MODES = ['station', 'device'] as const;
export const RESET_MODES = ['auto', 'usb-jtag', 'manual'] as const;
export const SERVICE_MANAGERS = ['systemd', 'none'] as const;

const codeTemplate = z
  .string()
  .trim()
  .min(1, V.required)
  .max(30, V.template)
  .refine((s) => /^[A-Za-z0-9_.{}-]+$/.test(s), V.template);

export const ProfileEsp32Schema = z.object({
  bundlePath: z.string().trim().min(1, V.required).max(1024, V.tooLong).refine((s) => s.startsWith('/') || /^[A-Za-z]:[\\/]/.test(s), V.path),
  wifiSsid: z.string().min(1, V.wifiSsid).max(32, V.wifiSsid),
  /** New password: undefined keeps the stored one, '' clears it (open network). */
  wifiPassword: z.string().refine((s) => s === '' || (s.length >= 8 && s.length <= 63), V.wifiPassword).optional(),
  baud: zIntRange(9600, 2_000_000).default(921600),
  resetMode: z.enum(RESET_MODES, { error: V.choice }).default('auto'),
  onlineTimeoutSec: zIntRange(5, 600).default(60),
});

export const ProfilePiSchema = z.object({
  installPrefix: z.string().trim().min(1, V.required).refine((s) => s.startsWith('/'), V.path).default('/'),
  serviceManager: z.enum(SERVICE_MANAGERS, { error: V.choice }).default('systemd'),
  onlineTimeoutSec: zIntRange(5, 600).default(60),
  /** Python 3 on the Pi (Debian's, with its python3-* packages); absent = DEFAULT_PI_PYTHON. */
  python: zRemotePath.optional(),
  /** The agent's Modbus RTU section of config.json; absent = no readings. */
  modbus: PiModbusSchema.optional(),
  /** Agent settings (MQTT keepalive, offline buffer, renewal); absent = the agent's defaults. */
  agent: PiAgentSettingsSchema.optional(),
});

/** A profile as the Settings screen edits it; server and monitor come from the station settings. */
export const ProfileInputSchema = z.object({
  name: zName(80),
  accountId: z.number({ error: V.positiveInt }).int(V.positiveInt).positive(V.positiveInt),
  codeTemplate: codeTemplate.default('GW-{mac12}'),
  nameTemplate: zName(100).default('Gateway {MAC12}'),
  brokerHost: zHost,
  brokerPort: zPort.default(8883),
  keyType: z.enum(KEY_TYPES, { error: V.choice }).default('ec'),
  keyMode: z.enum(KEY_MODES, { error: V.choice }).default('station'),
  validityDays: zIntRange(1, 36500).optional(),
  esp32: ProfileEsp32Schema.optional(),
  pi: ProfilePiSchema.optional(),
});
export type ProfileInput = z.input<typeof ProfileInputSchema>;

export type ProfileView = Omit<z.output<typeof ProfileInputSchema>, 'esp32'> & {
  esp32?: Omit<z.output<typeof ProfileEsp32Schema>, 'wifiPassword'> & { hasWifiPassword: boolean };
};
