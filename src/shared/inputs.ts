import { z } from 'zod';
import { ERROR_CODES } from './errors.js';
import { LANGUAGES, LOG_KINDS, LOG_RESULTS } from './views.js';
import { V, zHost, zHttpUrl, zId, zIsoDate, zLocalPath, zName, zPem, zPort } from './validation.js';

/**
 * What the renderer may send, as zod schemas: validated at the boundary in the core and reused by the
 * forms for their own checks, so a field problem reads the same on both sides. Messages are i18n keys
 * (validation.ts). The profile form's schema is the profile model itself (profile.ts).
 */

export const ServerSettingsInputSchema = z.discriminatedUnion('mode', [
  z.object({ mode: z.literal('bundled') }),
  z.object({
    mode: z.literal('remote'),
    url: zHttpUrl,
    /** New token: undefined keeps the stored one. */
    token: z.string().trim().min(16, V.token).max(512, V.tooLong).optional(),
    caPem: zPem.nullable().optional(),
    accountId: z.number({ error: V.positiveInt }).int(V.positiveInt).positive(V.positiveInt),
  }),
], { error: V.choice });
export type ServerSettingsInput = z.input<typeof ServerSettingsInputSchema>;

export const BrokerSettingsInputSchema = z.object({
  host: zHost,
  port: zPort,
  deviceHost: zHost,
  caPem: zPem.nullable().optional(),
  /** New monitor identity (certificate + key PEM); undefined keeps the current one. */
  monitor: z.object({ certPem: zPem, keyPem: zPem }).optional(),
});
export type BrokerSettingsInput = z.input<typeof BrokerSettingsInputSchema>;

export const GeneralSettingsInputSchema = z.object({
  operator: zName(80).optional(),
  language: z.enum(['auto', ...LANGUAGES], { error: V.choice }).optional(),
  stationId: z.string().regex(/^[a-z0-9](?:[a-z0-9-]{0,30}[a-z0-9])?$/, V.stationId).optional(),
  activeProfile: z.string().min(1).max(80).nullable().optional(),
});

export const FirstRunInputSchema = z.object({
  accountName: zName(100),
  operator: zName(80),
  startBroker: z.boolean(),
  brokerPort: zPort.default(8883),
  /** Address devices will use to reach the embedded broker (this machine's LAN address). */
  deviceBrokerHost: zHost,
  /** Name of the first profile, in the operator's language (the station's default profile). */
  profileName: zName(80).default('default'),
});
export type FirstRunInput = z.input<typeof FirstRunInputSchema>;

export const ServerTestInputSchema = z.object({
  url: zHttpUrl,
  token: z.string().trim().min(16, V.token).max(512, V.tooLong).optional(),
  caPem: zPem.nullable().optional(),
});

/** A gateway code as scanned or typed at the bench (the server's `codigo`). */
export const GatewayCodeSchema = z.string().trim().min(1, V.required).max(30, V.gatewayCode).regex(/^[A-Za-z0-9_.-]+$/, V.gatewayCode);

export const BenchProvisionInputSchema = z.object({
  deviceIds: z.array(zId).min(1, V.required).max(64, V.tooLong),
  profile: zName(80),
  /**
   * The batch start (Enter with nothing scanned): only boards that are new or not provisioned;
   * boards whose MAC the station knows to be provisioned or revoked are left alone.
   */
  onlyNew: z.boolean().default(false),
});

export const BenchOptionsInputSchema = z.object({
  sound: z.boolean().optional(),
  notify: z.boolean().optional(),
  autoStart: z.boolean().optional(),
  autoPrint: z.boolean().optional(),
});

/** A slot's name as the operator types it ("Hub A · 3"); null forgets it. */
export const SlotNameInputSchema = z.object({ slot: zId, name: zName(40).nullable() });

/** The local admin PIN that locks profiles: 4 to 12 digits. */
export const zPin = z.string().regex(/^\d{4,12}$/, V.pin);

export const ProfileLockInputSchema = z.object({
  locked: z.boolean(),
  /** The admin PIN (the first lock sets it). */
  pin: zPin,
  /** A new PIN, given with the current one. */
  newPin: zPin.optional(),
});

/** An OS notification the Electron shell shows (web mode uses the browser's Notification API). */
export const NotifyInputSchema = z.object({ title: z.string().trim().min(1).max(120), body: z.string().max(400) });

/**
 * How the station logs in to a Pi: a password, a private key pasted (PEM), a key file on this station
 * (read for each job, never copied; its path is remembered), or the station user's ssh-agent.
 */
export const PiAuthSchema = z.discriminatedUnion('method', [
  z.object({ method: z.literal('password'), password: z.string().min(1, V.required).max(1024, V.tooLong) }),
  z.object({ method: z.literal('key'), privateKeyPem: zPem, passphrase: z.string().max(1024, V.tooLong).optional() }),
  z.object({ method: z.literal('keyFile'), path: zLocalPath, passphrase: z.string().max(1024, V.tooLong).optional() }),
  z.object({ method: z.literal('agent') }),
], { error: V.choice });
export type PiAuth = z.input<typeof PiAuthSchema>;

const PiLoginFields = {
  targetId: zId,
  profile: zName(80),
  username: z.string().trim().min(1, V.required).max(64, V.tooLong).regex(/^[A-Za-z0-9._-]+$/, V.username),
  auth: PiAuthSchema,
  /** Keep trying to connect while the Pi boots (up to five minutes) instead of a few seconds. */
  waitForBoot: z.boolean().default(false),
};

export const FieldProvisionInputSchema = z.object({
  ...PiLoginFields,
  sudoPassword: z.string().max(1024, V.tooLong).optional(),
  gatewayCode: GatewayCodeSchema.optional(),
});
export type FieldProvisionInput = z.input<typeof FieldProvisionInputSchema>;

/** Look at a Pi without changing it (no root needed, so no sudo password). */
export const FieldProbeInputSchema = z.object(PiLoginFields);
export type FieldProbeInput = z.input<typeof FieldProbeInputSchema>;

/** A certificate serial number in hexadecimal (colons allowed). */
export const zSerial = z.string().trim().min(1, V.required).max(64, V.tooLong).regex(/^[0-9a-fA-F:]+$/, V.serial);

/**
 * The Log's filters: text fields match a part (any case; a MAC or serial with or without separators),
 * `q` is looked for everywhere, the error code is one of the codes; a From after To is refused at `to`.
 */
export const LogFilterSchema = z
  .object({
    from: zIsoDate.optional(),
    to: zIsoDate.optional(),
    operator: z.string().trim().max(80, V.tooLong).optional(),
    result: z.enum(LOG_RESULTS, { error: V.choice }).optional(),
    mac: z.string().trim().max(17, V.tooLong).regex(/^[0-9a-fA-F:.\s-]*[0-9a-fA-F][0-9a-fA-F:.\s-]*$/, V.macPart).optional(),
    serial: z.string().trim().max(64, V.tooLong).regex(/^[0-9a-fA-F:]+$/, V.serial).optional(),
    gatewayCode: z.string().trim().max(30, V.tooLong).optional(),
    station: z.string().trim().max(32, V.tooLong).optional(),
    errorCode: z.enum(ERROR_CODES, { error: V.choice }).optional(),
    firmware: z.string().trim().max(80, V.tooLong).optional(),
    kind: z.enum(LOG_KINDS, { error: V.choice }).optional(),
    q: z.string().trim().max(100, V.tooLong).optional(),
    limit: z.number().int().min(1).max(1000).default(100),
    offset: z.number().int().min(0).default(0),
  })
  .refine((f) => !(f.from && f.to && f.from > f.to), { path: ['to'], message: V.dateOrder });
export type LogFilter = z.input<typeof LogFilterSchema>;

export const REVOKE_REASONS = ['unspecified', 'keyCompromise', 'affiliationChanged', 'superseded', 'cessationOfOperation', 'privilegeWithdrawn'] as const;

/** `secret`: a typed password for a question marked `secret`; it reaches the asking step only. */
export const JobAnswerInputSchema = z.object({
  jobId: zId,
  questionId: zId,
  choice: z.string().min(1).max(64),
  secret: z.string().min(1, V.required).max(1024, V.tooLong).optional(),
});

/**
 * Renew a gateway's certificate; the active one stays valid until the new one is confirmed.
 * `deliver`: the server makes it for the key the device has and asks the device over MQTT (now if
 * online, else when it next comes online); the device answers with a new key and confirms itself.
 * `pending`: the server makes a key and a pending certificate, handed over once for installing by
 * hand, then confirmed (or cancelled) from the gateway's detail.
 */
export const GatewayRenewInputSchema = z.object({
  id: z.number().int().positive(),
  mode: z.enum(['deliver', 'pending'], { error: V.choice }),
});

/** The server's CSV import (`mac_address,codigo,nome`, the seed's header) as pasted or picked. */
export const ImportCsvInputSchema = z.object({
  csv: z
    .string()
    .max(1_000_000, V.tooLong)
    .refine((s) => /^\s*mac_address\s*,\s*codigo\s*,\s*nome\s*\r?\n\s*\S/.test(s), V.csv),
});

/** The bundled server's backups: a passphrase of at least 12 characters (not the CA's). */
const zBackupPassphrase = z.string().min(12, V.tooShort).max(1024, V.tooLong);

/**
 * Back up the bundled server (it keeps running) into a new file: `path` names a folder (the file is
 * named after the date there) or a new file.
 */
export const BundledBackupInputSchema = z.object({ path: zLocalPath, passphrase: zBackupPassphrase });

/** Read and verify a backup file before restoring it; nothing changes. */
export const BundledCheckInputSchema = z.object({ path: zLocalPath, passphrase: zBackupPassphrase });
export type BundledBackupInput = z.input<typeof BundledBackupInputSchema>;

/**
 * Restore the bundled server from a backup: verified first, then the server is stopped, its data
 * folder kept aside, the backup restored and the server started again. `caPassphrase` only for a
 * backup of another server (whose CA passphrase this station does not hold).
 */
export const BundledRestoreInputSchema = z.object({
  path: zLocalPath,
  passphrase: zBackupPassphrase,
  caPassphrase: z.string().min(12, V.tooShort).max(1024, V.tooLong).optional(),
});
export type BundledRestoreInput = z.input<typeof BundledRestoreInputSchema>;

/** Zero-touch open enrolment of the bundled server (its config; the server restarts to apply it). */
export const BundledOpenEnrolmentInputSchema = z.object({ on: z.boolean({ error: V.choice }) });
