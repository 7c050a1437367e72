/**
 * PKCS#11 URIs (RFC 7512) naming the CA key: which token (label, serial, ...) and which object in it
 * (label and/or CKA_ID). Only what addressing a private key needs is accepted; a PIN inside the URI
 * is refused, because the URI is stored in the data folder and shows up in process listings.
 */

export class Pkcs11UriError extends Error {}

/** Token and slot attributes that select the token (RFC 7512 §2.3). */
const TOKEN_ATTRIBUTES = ['token', 'manufacturer', 'serial', 'model', 'slot-description', 'slot-manufacturer', 'slot-id'] as const;
export type TokenAttribute = (typeof TOKEN_ATTRIBUTES)[number];

export interface Pkcs11Uri {
  /** Token/slot selectors; every one given must match. */
  token: Partial<Record<TokenAttribute, string>>;
  /** CKA_LABEL of the key. */
  object?: string;
  /** CKA_ID of the key (raw bytes). */
  id?: Buffer;
  /** The `module-path` query attribute: the PKCS#11 library to load. */
  modulePath?: string;
}

const PATH_ATTRIBUTES = new Set<string>([...TOKEN_ATTRIBUTES, 'object', 'id', 'type']);
const UNSUPPORTED_PATH = new Set(['library-manufacturer', 'library-description', 'library-version']);
const PIN_HINT = 'give the PIN through TDS_PKCS11_PIN or --pin-file, never inside the URI';

function percentDecode(value: string, what: string): Buffer {
  const bytes: number[] = [];
  for (let i = 0; i < value.length; i++) {
    const ch = value[i]!;
    if (ch === '%') {
      const hex = value.slice(i + 1, i + 3);
      if (!/^[0-9A-Fa-f]{2}$/.test(hex)) throw new Pkcs11UriError(`${what}: '%${hex}' is not a percent-encoded byte (use %XX)`);
      bytes.push(Number.parseInt(hex, 16));
      i += 2;
    } else {
      bytes.push(...Buffer.from(ch, 'utf8'));
    }
  }
  return Buffer.from(bytes);
}

function decodeText(value: string, what: string): string {
  const bytes = percentDecode(value, what);
  const text = new TextDecoder('utf-8', { fatal: false }).decode(bytes);
  if (text.includes('\uFFFD') || [...text].some((c) => c.charCodeAt(0) < 0x20 || c.charCodeAt(0) === 0x7f)) throw new Pkcs11UriError(`${what} is not printable UTF-8 text`);
  return text;
}

export function parsePkcs11Uri(input: string): Pkcs11Uri {
  const text = input.trim();
  if (!/^pkcs11:/i.test(text)) throw new Pkcs11UriError(`'${text.slice(0, 80)}' is not a PKCS#11 URI: it must start with "pkcs11:" (e.g. pkcs11:token=tds-ca;object=ca-key;type=private)`);
  if (text.length > 2048) throw new Pkcs11UriError('the PKCS#11 URI is longer than 2048 characters');
  const rest = text.slice('pkcs11:'.length);
  const q = rest.indexOf('?');
  const pathPart = q < 0 ? rest : rest.slice(0, q);
  const queryPart = q < 0 ? '' : rest.slice(q + 1);
  const uri: Pkcs11Uri = { token: {} };
  const seen = new Set<string>();

  for (const attr of pathPart.split(';').filter((a) => a !== '')) {
    const eq = attr.indexOf('=');
    if (eq <= 0) throw new Pkcs11UriError(`PKCS#11 URI attribute '${attr}' has no value (write name=value)`);
    const name = attr.slice(0, eq).toLowerCase();
    const raw = attr.slice(eq + 1);
    if (seen.has(name)) throw new Pkcs11UriError(`the PKCS#11 URI names '${name}' twice`);
    seen.add(name);
    if (name.startsWith('x-')) continue; // vendor attributes: allowed by RFC 7512, not used here
    if (name === 'pin-value' || name === 'pin-source') throw new Pkcs11UriError(`'${name}' belongs in the query part and is refused anyway: ${PIN_HINT}`);
    if (UNSUPPORTED_PATH.has(name)) throw new Pkcs11UriError(`'${name}' is not supported here: name the module with --pkcs11-module (or module-path=) and the token with token=/serial=`);
    if (!PATH_ATTRIBUTES.has(name)) throw new Pkcs11UriError(`'${name}' is not a PKCS#11 URI path attribute (use token, serial, object, id, type, ...)`);
    if (name === 'id') {
      uri.id = percentDecode(raw, 'id');
      if (uri.id.length === 0) throw new Pkcs11UriError('id is empty');
    } else if (name === 'type') {
      if (raw !== 'private') throw new Pkcs11UriError(`type=${raw}: the CA key is a private key; write type=private or leave type out`);
    } else if (name === 'object') {
      uri.object = decodeText(raw, 'object');
      if (uri.object === '') throw new Pkcs11UriError('object is empty');
    } else {
      uri.token[name as TokenAttribute] = decodeText(raw, name);
    }
  }

  for (const attr of queryPart.split('&').filter((a) => a !== '')) {
    const eq = attr.indexOf('=');
    const name = (eq < 0 ? attr : attr.slice(0, eq)).toLowerCase();
    if (name === 'pin-value' || name === 'pin-source') throw new Pkcs11UriError(`the PKCS#11 URI carries '${name}': ${PIN_HINT}`);
    if (name === 'module-path') {
      uri.modulePath = decodeText(attr.slice(eq + 1), 'module-path');
      if (!uri.modulePath.startsWith('/')) throw new Pkcs11UriError('module-path must be an absolute path to the PKCS#11 library');
    } else if (name === 'module-name') {
      throw new Pkcs11UriError('module-name is not supported: give the library path with --pkcs11-module or module-path=');
    } else if (!name.startsWith('x-')) {
      throw new Pkcs11UriError(`'${name}' is not a PKCS#11 URI query attribute`);
    }
  }
  if (uri.object === undefined && uri.id === undefined) throw new Pkcs11UriError('the PKCS#11 URI must name the key: add object=<label> (and/or id=%01%02...)');
  return uri;
}

/** RFC 7512 pk11-pchar: unreserved and the "available" reserved characters stay literal. */
function encodeText(value: string): string {
  return Array.from(Buffer.from(value, 'utf8'))
    .map((b) => {
      const ch = String.fromCharCode(b);
      return b < 0x80 && /[A-Za-z0-9\-._~:[\]@!$'()*+,=&]/.test(ch) ? ch : `%${b.toString(16).toUpperCase().padStart(2, '0')}`;
    })
    .join('');
}

/** The canonical text of a URI (no module path: that is stored beside it). */
export function formatPkcs11Uri(uri: Pkcs11Uri): string {
  const parts: string[] = [];
  for (const name of TOKEN_ATTRIBUTES) {
    const v = uri.token[name];
    if (v !== undefined) parts.push(`${name}=${encodeText(v)}`);
  }
  if (uri.object !== undefined) parts.push(`object=${encodeText(uri.object)}`);
  if (uri.id !== undefined) parts.push(`id=${Array.from(uri.id, (b) => `%${b.toString(16).toUpperCase().padStart(2, '0')}`).join('')}`);
  parts.push('type=private');
  return `pkcs11:${parts.join(';')}`;
}

/** "object 'ca-key' (id 01ab) in token 'tds-ca'" for messages. */
export function describeKeyUri(uri: Pkcs11Uri): string {
  const key = [uri.object !== undefined ? `'${uri.object}'` : '', uri.id ? `(id ${uri.id.toString('hex')})` : ''].filter(Boolean).join(' ');
  const token = Object.entries(uri.token)
    .map(([k, v]) => `${k}=${v}`)
    .join(', ');
  return `key ${key} in the token ${token ? `with ${token}` : '(any)'}`;
}
