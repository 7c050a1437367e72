/**
 * Minimal DER encoder and bounds-checked TLV reader.
 *
 * Why hand-written: end-entity certificates are built from a fixed profile where only a handful of
 * fields change (serial, dates, CN, SAN, public key). Building that TBSCertificate from byte
 * templates and signing it with Node's native `crypto.sign` is ~50x cheaper than going through a
 * generic ASN.1 object model, which is what makes the issuance throughput target reachable. The CA
 * certificate and the CRL, which are rare, are made with @peculiar/x509; tests cross-check the
 * output of both with the openssl command line.
 */

function lengthHeaderSize(length: number): number {
  if (length < 0x80) return 1;
  let bytes = 0;
  for (let n = length; n > 0; n = Math.floor(n / 256)) bytes++;
  return 1 + bytes;
}

function writeLength(out: Buffer, offset: number, length: number): number {
  if (length < 0x80) {
    out[offset] = length;
    return offset + 1;
  }
  const size = lengthHeaderSize(length) - 1;
  out[offset] = 0x80 | size;
  for (let i = size, n = length; i >= 1; i--, n = Math.floor(n / 256)) out[offset + i] = n & 0xff;
  return offset + 1 + size;
}

/** One allocation per value: tag, length, then the parts copied in order. */
export function tlvOf(tag: number, parts: readonly Buffer[]): Buffer {
  let length = 0;
  for (const p of parts) length += p.length;
  const out = Buffer.allocUnsafe(1 + lengthHeaderSize(length) + length);
  out[0] = tag;
  let pos = writeLength(out, 1, length);
  for (const p of parts) pos += p.copy(out, pos);
  return out;
}

export function tlv(tag: number, content: Buffer): Buffer {
  return tlvOf(tag, [content]);
}

export const seq = (...parts: Buffer[]): Buffer => tlvOf(0x30, parts);
export const set = (...parts: Buffer[]): Buffer => tlvOf(0x31, parts);
export const octetString = (content: Buffer): Buffer => tlv(0x04, content);
export const nullValue = (): Buffer => Buffer.from([0x05, 0x00]);
export const booleanTrue = (): Buffer => Buffer.from([0x01, 0x01, 0xff]);

/** BIT STRING with `unusedBits` padding bits in the last byte. */
export function bitString(content: Buffer, unusedBits = 0): Buffer {
  return tlvOf(0x03, [Buffer.from([unusedBits]), content]);
}

/** DER named bit string (KeyUsage): bit 0 is the most significant bit of the first byte. */
export function namedBits(bits: readonly number[]): Buffer {
  const max = Math.max(...bits);
  const bytes = Buffer.alloc(Math.floor(max / 8) + 1);
  for (const b of bits) bytes[Math.floor(b / 8)]! |= 0x80 >> (b % 8);
  const last = bytes[bytes.length - 1]!;
  let unused = 0;
  while (unused < 7 && ((last >> unused) & 1) === 0) unused++;
  return bitString(bytes, unused);
}

/** INTEGER from unsigned big-endian magnitude bytes (minimal encoding, positive). */
export function unsignedInteger(magnitude: Buffer): Buffer {
  let i = 0;
  while (i < magnitude.length - 1 && magnitude[i] === 0) i++;
  let body = magnitude.subarray(i);
  if (body.length === 0) body = Buffer.from([0]);
  if ((body[0]! & 0x80) !== 0) body = Buffer.concat([Buffer.from([0]), body]);
  return tlv(0x02, body);
}

export function smallInteger(n: number): Buffer {
  if (!Number.isInteger(n) || n < 0 || n > 0x7fffffff) throw new RangeError(`integer out of range: ${n}`);
  const hex = n.toString(16);
  return unsignedInteger(Buffer.from(hex.length % 2 ? `0${hex}` : hex, 'hex'));
}

export function oid(dotted: string): Buffer {
  // BigInt: arcs under 2.25 (UUID OIDs, ITU-T X.667) are 128-bit numbers.
  if (!/^\d+(\.\d+)+$/.test(dotted)) throw new Error(`bad OID ${dotted}`);
  const parts = dotted.split('.').map((p) => BigInt(p));
  const out: number[] = [];
  for (const part of [parts[0]! * 40n + parts[1]!, ...parts.slice(2)]) {
    const chunk: number[] = [Number(part & 0x7fn)];
    for (let v = part >> 7n; v > 0n; v >>= 7n) chunk.unshift(Number(v & 0x7fn) | 0x80);
    out.push(...chunk);
  }
  return tlv(0x06, Buffer.from(out));
}

export const utf8String = (s: string): Buffer => tlv(0x0c, Buffer.from(s, 'utf8'));
export const ia5String = (s: string): Buffer => tlv(0x16, Buffer.from(s, 'ascii'));

const PRINTABLE = /^[A-Za-z0-9 '()+,\-./:=?]*$/;
export function printableString(s: string): Buffer {
  if (!PRINTABLE.test(s)) throw new Error(`'${s}' is not a PrintableString`);
  return tlv(0x13, Buffer.from(s, 'ascii'));
}

/** RFC 5280 §4.1.2.5: UTCTime through 2049, GeneralizedTime from 2050; whole seconds, Zulu. */
export function time(date: Date): Buffer {
  const iso = date.toISOString(); // YYYY-MM-DDTHH:MM:SS.sssZ
  const compact = iso.slice(0, 19).replace(/[-:T]/g, '') + 'Z'; // YYYYMMDDHHMMSSZ
  const year = date.getUTCFullYear();
  if (year >= 1950 && year < 2050) return tlv(0x17, Buffer.from(compact.slice(2), 'ascii'));
  return tlv(0x18, Buffer.from(compact, 'ascii'));
}

export const explicit = (tagNumber: number, content: Buffer): Buffer => tlv(0xa0 | tagNumber, content);
export const implicitPrimitive = (tagNumber: number, content: Buffer): Buffer => tlv(0x80 | tagNumber, content);

// ---------------------------------------------------------------------------------------------
// Reader

export interface Tlv {
  tag: number;
  /** Offset of the tag byte. */
  start: number;
  /** Offset of the first content byte. */
  contentStart: number;
  /** Offset just past the content. */
  end: number;
}

export class DerError extends Error {}

/** Reads one TLV at `offset`, refusing indefinite lengths, long-form tags and overruns. */
export function readTlv(buf: Buffer, offset: number, limit = buf.length): Tlv {
  if (offset + 2 > limit) throw new DerError('truncated DER');
  const tag = buf[offset]!;
  if ((tag & 0x1f) === 0x1f) throw new DerError('multi-byte DER tags are not supported');
  let lenByte = buf[offset + 1]!;
  let pos = offset + 2;
  let length: number;
  if (lenByte < 0x80) length = lenByte;
  else {
    lenByte &= 0x7f;
    if (lenByte === 0) throw new DerError('indefinite length is not DER');
    if (lenByte > 4) throw new DerError('DER length too large');
    if (pos + lenByte > limit) throw new DerError('truncated DER length');
    length = 0;
    for (let i = 0; i < lenByte; i++) length = length * 256 + buf[pos + i]!;
    pos += lenByte;
  }
  const end = pos + length;
  if (end > limit) throw new DerError('DER value runs past its container');
  return { tag, start: offset, contentStart: pos, end };
}

/** The TLVs directly inside a constructed value. */
export function children(buf: Buffer, parent: Tlv): Tlv[] {
  if ((parent.tag & 0x20) === 0) throw new DerError('expected a constructed DER value');
  const out: Tlv[] = [];
  let pos = parent.contentStart;
  while (pos < parent.end) {
    const child = readTlv(buf, pos, parent.end);
    out.push(child);
    pos = child.end;
  }
  return out;
}

export const raw = (buf: Buffer, t: Tlv): Buffer => buf.subarray(t.start, t.end);
export const content = (buf: Buffer, t: Tlv): Buffer => buf.subarray(t.contentStart, t.end);

export function decodeOid(bytes: Buffer): string {
  if (bytes.length === 0) throw new DerError('empty OID');
  // Numbers for the usual short arcs (CSR parsing is on the issuance hot path); BigInt for longer
  // ones, such as the 128-bit arcs under 2.25.
  const arcs: (number | bigint)[] = [];
  let v = 0;
  let big = 0n;
  let length = 0;
  for (const b of bytes) {
    length++;
    if (length <= 7) v = v * 128 + (b & 0x7f);
    else {
      if (length === 8) big = BigInt(v);
      big = (big << 7n) | BigInt(b & 0x7f);
    }
    if ((b & 0x80) === 0) {
      arcs.push(length <= 7 ? v : big);
      v = 0;
      length = 0;
    }
  }
  const first = BigInt(arcs.shift() ?? 0);
  const head = first < 80n ? [first / 40n, first % 40n] : [2n, first - 80n];
  return [...head, ...arcs].join('.');
}

/** Decodes a DirectoryString-like value (UTF8String, PrintableString, IA5String, T61String, BMPString). */
export function decodeString(buf: Buffer, t: Tlv): string {
  const body = content(buf, t);
  switch (t.tag) {
    case 0x0c:
      return body.toString('utf8');
    case 0x13:
    case 0x16:
    case 0x14:
      return body.toString('latin1');
    case 0x1e: {
      // BMPString: UTF-16BE
      const swapped = Buffer.from(body);
      swapped.swap16();
      return swapped.toString('utf16le');
    }
    default:
      throw new DerError(`unsupported string type 0x${t.tag.toString(16)}`);
  }
}

/** PEM → DER for one block with one of the given labels. */
export function pemToDer(pem: string, labels: readonly string[]): Buffer {
  for (const label of labels) {
    const re = new RegExp(`-----BEGIN ${label}-----([A-Za-z0-9+/=\\s]+)-----END ${label}-----`);
    const m = re.exec(pem);
    if (m) return Buffer.from(m[1]!.replace(/\s+/g, ''), 'base64');
  }
  throw new DerError(`no PEM block labelled ${labels.join(' or ')}`);
}

export function derToPem(der: Buffer, label: string): string {
  const b64 = der.toString('base64');
  const lines: string[] = [];
  for (let i = 0; i < b64.length; i += 64) lines.push(b64.slice(i, i + 64));
  return `-----BEGIN ${label}-----\n${lines.join('\n')}\n-----END ${label}-----\n`;
}
