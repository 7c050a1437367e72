import { parseMac } from '@tds/server/contract';
import { z } from 'zod';

/**
 * Building blocks for the UI-facing request schemas. Messages are i18n keys (`validation.<key>` in the
 * renderer's dictionaries), so the same schema gives a translated, field-specific message whether it
 * runs in the renderer (form check before sending) or in the main process (boundary check).
 */
export const V = {
  required: 'required',
  tooLong: 'tooLong',
  tooShort: 'tooShort',
  url: 'url',
  port: 'port',
  host: 'host',
  positiveInt: 'positiveInt',
  range: 'range',
  mac: 'mac',
  pem: 'pem',
  wifiSsid: 'wifiSsid',
  wifiPassword: 'wifiPassword',
  choice: 'choice',
  csv: 'csv',
  template: 'template',
  date: 'date',
  stationId: 'stationId',
  token: 'token',
  tokenForUrl: 'tokenForUrl',
  path: 'path',
  username: 'username',
  serial: 'serial',
  conflict: 'conflict',
  certInvalid: 'certInvalid',
  keyInvalid: 'keyInvalid',
  keyMismatch: 'keyMismatch',
  numberRange: 'numberRange',
  remotePath: 'remotePath',
  gatewayCode: 'gatewayCode',
  modbusDevices: 'modbusDevices',
  modbusReadings: 'modbusReadings',
  modbusTableSize: 'modbusTableSize',
  macPart: 'macPart',
  dateOrder: 'dateOrder',
  keyFileMissing: 'keyFileMissing',
  keyFileInvalid: 'keyFileInvalid',
  keyFilePassphrase: 'keyFilePassphrase',
  claimQr: 'claimQr',
  activationCode: 'activationCode',
  claimSecret: 'claimSecret',
  printable: 'printable',
  unknownGateway: 'unknownGateway',
  templateUnique: 'templateUnique',
  wifiPasswordNeeded: 'wifiPasswordNeeded',
  bundleMissing: 'bundleMissing',
  bundleUnreadable: 'bundleUnreadable',
  brokerUnreachable: 'brokerUnreachable',
  pin: 'pin',
  pinWrong: 'pinWrong',
  pinLater: 'pinLater',
} as const;
export type ValidationKey = (typeof V)[keyof typeof V];

/** One field problem: `field` is a dotted path into the request (`esp32.wifiSsid`). */
export interface FieldIssue {
  field: string;
  key: ValidationKey | string;
  /** English text, for logs and for clients that do not translate. */
  message: string;
  params?: Record<string, string | number>;
}

/**
 * English text of every key: what `toFieldIssues` puts in `message`, and the renderer's English
 * dictionary (`validation.*`), so the two never drift apart.
 */
export const VALIDATION_EN: Record<ValidationKey, string> = {
  required: 'This field is required.',
  tooLong: 'Too long (at most {{max}} characters).',
  tooShort: 'Too short (at least {{min}} characters).',
  url: 'Enter an http(s) URL such as https://server.example:8443.',
  port: 'Enter a port number from 1 to 65535.',
  host: 'Enter a host name or IP address such as 192.168.1.20 or broker.local.',
  positiveInt: 'Enter a whole number greater than zero.',
  range: 'Enter a whole number from {{min}} to {{max}}.',
  mac: 'Enter a MAC address such as aa:bb:cc:dd:ee:ff.',
  pem: 'Paste PEM text starting with -----BEGIN.',
  wifiSsid: 'A Wi-Fi network name has 1 to 32 characters.',
  wifiPassword: 'A WPA2 password has 8 to 63 characters (leave empty for an open network).',
  choice: 'Pick one of the options.',
  csv: 'The CSV needs a header line mac_address,codigo,nome and at least one row.',
  template: 'Use letters, digits, - _ . and {mac12}, {mac} or {seq}; at most 30 characters.',
  date: 'Enter a date as YYYY-MM-DD.',
  stationId: 'Use 1 to 32 lowercase letters, digits or dashes.',
  token: 'Paste the API token (at least 16 characters).',
  tokenForUrl: 'Paste the API token for this URL: the saved token is only sent to the saved server.',
  path: 'Enter the full path of a folder or file on this station (starting with /).',
  username: 'Enter a user name (letters, digits, ., _ or -).',
  serial: 'Enter the certificate serial in hexadecimal (colons allowed).',
  conflict: 'This name is already used; choose another one.',
  certInvalid: 'This is not a PEM certificate (-----BEGIN CERTIFICATE-----).',
  keyInvalid: 'This is not an unencrypted PEM private key.',
  keyMismatch: 'This key does not belong to the certificate above.',
  numberRange: 'Enter a number from {{min}} to {{max}}.',
  remotePath: 'Enter a full path on the Pi, such as /usr/bin/python3 or /dev/ttyUSB0.',
  gatewayCode: 'A gateway code has 1 to 30 letters, digits, - _ or . (no spaces).',
  modbusDevices: 'The readings name more devices (slave addresses) than this: raise it or remove readings.',
  modbusReadings: 'At most {{max}} readings.',
  modbusTableSize: 'The readings do not fit the gateway’s configuration (3967 bytes): remove readings or shorten their units.',
  macPart: 'Enter all or part of a MAC address: hexadecimal digits, with or without colons.',
  dateOrder: 'This date is before From: pick a To on or after From.',
  keyFileMissing: 'There is no readable file at this path on this station.',
  keyFileInvalid: 'This file is not an SSH private key, or the passphrase is wrong.',
  keyFilePassphrase: 'This key is protected by a passphrase: enter it below.',
  claimQr: 'This is not a TDS claim QR: a label reads TDS:B1:<MAC>:<secret>, a device shows TDS:C1:<MAC>:<code>.',
  activationCode: 'An activation code has 8 characters from 0-9 and A-Z without I, L, O or U, shown as XXXX-XXXX.',
  claimSecret: 'A claim secret has 26 characters from 0-9 and A-Z without I, L, O or U, as printed on the label.',
  printable: 'Use 1 to {{max}} printable characters: no line breaks, control or invisible formatting characters.',
  unknownGateway: 'No gateway has this code in this account.',
  templateUnique: 'Include {mac12} or {seq}, so that every gateway gets its own code.',
  wifiPasswordNeeded: 'Type the Wi-Fi password, or tick “Open network” if it has none.',
  bundleMissing: 'There is no file or folder at this path on the station.',
  bundleUnreadable: 'This is not a firmware bundle the station can use: {{reason}}',
  brokerUnreachable: 'Nothing answered at {{host}}:{{port}} ({{reason}}). Check the address and port, and that the broker runs.',
  pin: 'Enter 4 to 12 digits.',
  pinWrong: 'This is not the admin PIN.',
  pinLater: 'Too many wrong PINs: try again in a minute.',
};

/** Turns zod issues into field issues; messages that are not keys pass through unchanged. */
export function toFieldIssues(error: z.ZodError): FieldIssue[] {
  return error.issues.map((issue) => {
    const params: Record<string, string | number> = {};
    // "range:1:36500" carries both bounds (a single min or max check only knows its own).
    const ranged = /^(\w+):(-?[\d.]+(?:e\d+)?):(-?[\d.]+(?:e\d+)?)$/.exec(issue.message);
    let key: string;
    if (ranged) {
      key = ranged[1]!;
      params.min = Number(ranged[2]);
      params.max = Number(ranged[3]);
    } else {
      key = issue.message in VALIDATION_EN ? issue.message : issue.code === 'invalid_type' && issue.input === undefined ? V.required : issue.message;
      if ('minimum' in issue && (typeof issue.minimum === 'number' || typeof issue.minimum === 'bigint')) params.min = Number(issue.minimum);
      if ('maximum' in issue && (typeof issue.maximum === 'number' || typeof issue.maximum === 'bigint')) params.max = Number(issue.maximum);
    }
    const template = VALIDATION_EN[key as ValidationKey];
    const message = template ? template.replace(/\{\{(\w+)\}\}/g, (_, p: string) => String(params[p] ?? '')) : key;
    return { field: issue.path.map(String).join('.'), key, message, ...(Object.keys(params).length ? { params } : {}) };
  });
}

/** Host name (RFC 1123 labels) or IPv4/IPv6 literal. */
const HOST_RE = /^(?:(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?)(?:\.(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?))*|\d{1,3}(?:\.\d{1,3}){3}|\[?[0-9a-fA-F:]+\]?)$/;

export const zHost = z.string().trim().min(1, V.required).max(253, V.tooLong).regex(HOST_RE, V.host);
export const zPort = z.number({ error: V.port }).int(V.port).min(1, V.port).max(65535, V.port);
/** A full path on this station (POSIX or Windows). */
export const zLocalPath = z
  .string()
  .trim()
  .min(1, V.required)
  .max(1024, V.tooLong)
  .refine((s) => s.startsWith('/') || /^[A-Za-z]:[\\/]/.test(s), V.path);
/**
 * Free text the server keeps verbatim (account names, token labels): 1 to `max` code points of
 * printable text, as the server requires: no control characters, line or paragraph separators,
 * private-use or unassigned code points, or format characters such as bidi overrides (only the
 * joiners U+200C/U+200D, which some scripts and emoji need).
 */
export const zPrintable = (max: number) => {
  const m = `${V.printable}:1:${max}`;
  return z
    .string()
    .trim()
    .min(1, V.required)
    .refine((s) => [...s].length <= max && !/[\p{C}\p{Zl}\p{Zp}]/u.test(s.replace(/[\u200c\u200d]/gu, '')), m);
};
export const zName = (max: number) => z.string().trim().min(1, V.required).max(max, V.tooLong);
export const zPem = z.string().trim().refine((s) => /-----BEGIN [A-Z0-9 ]+-----[\s\S]+-----END [A-Z0-9 ]+-----/.test(s), V.pem);
export const zHttpUrl = z
  .string()
  .trim()
  .min(1, V.required)
  .refine((s) => {
    try {
      const u = new URL(s);
      return (u.protocol === 'http:' || u.protocol === 'https:') && u.hostname.length > 0;
    } catch {
      return false;
    }
  }, V.url);
export const zIsoDate = z.string().regex(/^\d{4}-\d{2}-\d{2}$/, V.date);
export const zId = z.string().min(1, V.required).max(200, V.tooLong);
/** A whole number in [min, max]; every failure says both bounds. */
export const zIntRange = (min: number, max: number) => {
  const m = `${V.range}:${min}:${max}`;
  return z.number({ error: m }).int(m).min(min, m).max(max, m);
};
/** Any finite number in [min, max]; every failure says both bounds. */
export const zNumberRange = (min: number, max: number) => {
  const m = `${V.numberRange}:${min}:${max}`;
  return z.number({ error: m }).min(min, m).max(max, m);
};

/** A MAC address as typed or scanned, in the server contract's canonical form (aa:bb:cc:dd:ee:ff). */
export const zMac = z
  .string()
  .trim()
  .transform((s, ctx) => {
    const m = parseMac(s);
    if (m.ok) return m.mac;
    ctx.addIssue({ code: 'custom', message: V.mac });
    return z.NEVER;
  });
