import { KEY_TYPES } from '@tds/server/contract';
import { z } from 'zod';
import { Esp32ModbusSchema } from './esp32-modbus.js';
import { PiAgentSettingsSchema, PiModbusSchema, zRemotePath } from './pi-agent.js';
import { V, zHost, zIntRange, zLocalPath, zName, zPort } from './validation.js';

/**
 * The provisioning profile: everything a bench or field job needs besides the device, its secrets
 * and the station's own connections (server, monitor). One model, parsed from the Settings form and
 * from a headless profile file (src/main/cli/profile-file.ts), stored as is in settings.json, and
 * mapped to job settings once per device kind (src/main/esp32/job-settings.ts,
 * src/main/pi/job-settings.ts). Messages are i18n keys (validation.ts).
 */

export const KEY_MODES = ['station', 'device'] as const;
export const RESET_MODES = ['auto', 'usb-jtag', 'manual'] as const;
export const SERVICE_MANAGERS = ['systemd', 'none'] as const;

/**
 * Caps a profile may put on the ESP32 flashing speed: the rungs of the station's per-bridge speed
 * ladders (src/main/esp32/baud-ladder.ts) and 115200, the ROM's own rate (no speed change). Without a
 * cap the station picks the fastest rate the port's USB bridge holds.
 */
export const MAX_BAUD_CHOICES = [2_000_000, 921_600, 460_800, 230_400, 115_200] as const;

/** Gateway code (the server's `codigo`) and name (`nome`, which may not hold colons) when none is scanned. */
export const DEFAULT_CODE_TEMPLATE = 'GW-{mac12}';
export const DEFAULT_NAME_TEMPLATE = 'Gateway {MAC12}';

const codeTemplate = z
  .string()
  .trim()
  .min(1, V.required)
  .max(30, V.template)
  .refine((s) => /^[A-Za-z0-9_.{}-]+$/.test(s), V.template);


/** WPA2 passphrase; '' is an open network. */
export const zWifiPassword = z.string().refine((s) => s === '' || (s.length >= 8 && s.length <= 63), V.wifiPassword);

export const ProfileEsp32Schema = z.object({
  bundlePath: zLocalPath,
  wifiSsid: z.string().min(1, V.wifiSsid).max(32, V.wifiSsid),
  /** An open network, on purpose: no Wi-Fi password is kept or asked for. */
  wifiOpen: z.boolean().optional(),
  /** Optional cap on the flashing speed (see MAX_BAUD_CHOICES); absent = the station picks per USB bridge. */
  maxBaud: zIntRange(115_200, 2_000_000).optional(),
  resetMode: z.enum(RESET_MODES, { error: V.choice }).default('auto'),
  onlineTimeoutSec: zIntRange(5, 600).default(60),
  /** Modbus RTU readings the firmware polls on its RS-485 port (written to the factory data); absent = none. */
  modbus: Esp32ModbusSchema.optional(),
  /**
   * Zero-touch: give each board a birth identity instead of its final one (a birth certificate for its
   * MAC, the server's URL and CA); the board asks to join in the field and an installer claims it with
   * the label's QR. Station-made keys only.
   */
  birthIdentity: z.boolean().optional(),
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
  /** System user the agent runs as; absent = gateway-iot (systemd) or the login user (no service manager). */
  serviceUser: z.string().regex(/^[a-z_][a-z0-9_-]{0,31}$/, V.username).optional(),
  /**
   * More fields for the agent's config.json in its own names (commands, buffer, mqtt timing). Profile
   * files only: it can name commands the agent runs, so the Settings form neither shows nor accepts it.
   */
  agentConfig: z.record(z.string(), z.unknown()).optional(),
});

export const ProfileSchema = z.object({
  name: zName(80),
  /** The server's account (`conta_id`) the gateways are created in. */
  accountId: z.number({ error: V.positiveInt }).int(V.positiveInt).positive(V.positiveInt),
  /** Gateway code when none is scanned: {mac12}, {MAC12}, {mac}, {seq}. */
  codeTemplate: codeTemplate.default(DEFAULT_CODE_TEMPLATE),
  nameTemplate: zName(100).default(DEFAULT_NAME_TEMPLATE),
  /** Broker address the devices use. */
  brokerHost: zHost,
  brokerPort: zPort.default(8883),
  keyType: z.enum(KEY_TYPES, { error: V.choice }).default('ec'),
  /** Where the device key is born: `station` (this process's memory) or `device` (our firmware's console). */
  keyMode: z.enum(KEY_MODES, { error: V.choice }).default('station'),
  validityDays: zIntRange(1, 36500).optional(),
  esp32: ProfileEsp32Schema.optional(),
  pi: ProfilePiSchema.optional(),
});
export type Profile = z.output<typeof ProfileSchema>;

/**
 * The Settings form's save request: the profile plus a write-only Wi-Fi password (undefined keeps the
 * stored one, '' clears it), without the file-only `pi.agentConfig`.
 */
export const ProfileInputSchema = ProfileSchema.extend({
  // Every gateway needs its own code: a template without a per-device part would give them all one.
  codeTemplate: codeTemplate.refine((s) => /\{(mac12|MAC12|seq)\}/.test(s), V.templateUnique).default(DEFAULT_CODE_TEMPLATE),
  esp32: ProfileEsp32Schema.extend({ wifiPassword: zWifiPassword.optional() }).optional(),
  pi: ProfilePiSchema.omit({ agentConfig: true }).optional(),
});
export type ProfileInput = z.input<typeof ProfileInputSchema>;

/** A stored profile as the renderer sees it: the Wi-Fi password only as "is there one". */
export type ProfileView = Omit<Profile, 'esp32'> & {
  esp32?: NonNullable<Profile['esp32']> & { hasWifiPassword: boolean };
};
