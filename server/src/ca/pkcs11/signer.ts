/**
 * CaSigner over a PKCS#11 token: the digest is computed here, the signature inside the token (raw
 * CKM_ECDSA / CKM_RSA_PKCS over a DigestInfo, the mechanisms nearly every token has), on a pool of
 * sessions so several signatures are in flight at once.
 */
import { createHash } from 'node:crypto';
import pkcs11 from 'pkcs11js';
import { p1363ToDer, type CaSigner, type SignatureFormat } from '../signer.js';
import type { KeyType } from '../keys.js';
import { KeyVault } from '../vault.js';
import { checkCaKey, checkVaultKey, findPrivateKey, findVaultKey, hmacSha256, inspectPrivateKey } from './key-objects.js';
import { TokenError } from './errors.js';
import { TokenConnection } from './token.js';
import { describeKeyUri, type Pkcs11Uri } from './uri.js';

type Handle = pkcs11.Handle;

export interface Pkcs11KeyLocation {
  /** Absolute path of the PKCS#11 library. */
  modulePath: string;
  uri: Pkcs11Uri;
  /** CKA_LABEL of the HMAC key that roots the pending-key vault. */
  vaultLabel: string;
  /** Sessions in the pool (default 4: libuv's thread pool size). */
  sessions?: number;
}

interface CaObjects {
  key: Handle;
  vault: Handle;
  keyType: KeyType;
  signatureLength: number;
}

/** DER DigestInfo prefix for SHA-256 (RFC 8017 §9.2 note 1): CKM_RSA_PKCS signs DigestInfo || hash. */
const SHA256_DIGEST_INFO = Buffer.from('3031300d060960864801650304020105000420', 'hex');
const VAULT_INFO = Buffer.from('tds-key-vault/1');

export class Pkcs11CaSigner implements CaSigner {
  readonly backend = 'pkcs11' as const;

  private constructor(
    private readonly connection: TokenConnection<CaObjects>,
    readonly keyType: KeyType,
    readonly vault: KeyVault,
    readonly description: string,
  ) {}

  /** Logs in, finds the key and the vault key, checks both never leave the token. */
  static async open(location: Pkcs11KeyLocation, pin: string): Promise<Pkcs11CaSigner> {
    const connection = await TokenConnection.open<CaObjects>(
      { modulePath: location.modulePath, uri: location.uri, pin, sessions: location.sessions ?? 4 },
      (lib, session) => {
        const key = findPrivateKey(lib, session, location.uri);
        const facts = inspectPrivateKey(lib, session, key);
        checkCaKey(facts);
        const vault = findVaultKey(lib, session, location.vaultLabel);
        if (vault === undefined) throw new TokenError(`the token has no secret key '${location.vaultLabel}' (the pending-key vault made by init)`);
        checkVaultKey(lib, session, vault, location.vaultLabel);
        return { key, vault, keyType: facts.keyType, signatureLength: facts.keyType === 'ec' ? 64 : facts.bits / 8 };
      },
    );
    try {
      const { keyType, root } = await connection.run((lib, session, o) => ({ keyType: o.keyType, root: hmacSha256(lib, session, o.vault, VAULT_INFO) }));
      const vault = KeyVault.fromSecret(root);
      root.fill(0);
      return new Pkcs11CaSigner(connection, keyType, vault, `CA key in PKCS#11 token: ${describeKeyUri(location.uri)}`);
    } catch (err) {
      await connection.close();
      throw err;
    }
  }

  async sign(data: Buffer, format: SignatureFormat = 'der'): Promise<Buffer> {
    const digest = createHash('sha256').update(data).digest();
    const signature = await this.connection.run(async (lib, session, o) => {
      const ec = o.keyType === 'ec';
      lib.C_SignInit(session, { mechanism: ec ? pkcs11.CKM_ECDSA : pkcs11.CKM_RSA_PKCS }, o.key);
      const input = ec ? digest : Buffer.concat([SHA256_DIGEST_INFO, digest]);
      return Buffer.from(await lib.C_SignAsync(session, input, Buffer.alloc(o.signatureLength)));
    });
    return this.keyType === 'ec' && format === 'der' ? p1363ToDer(signature) : signature;
  }

  close(): Promise<void> {
    return this.connection.close();
  }
}
