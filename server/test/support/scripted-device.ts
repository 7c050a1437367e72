import { createHash, createPrivateKey, sign, type KeyObject } from 'node:crypto';
import { ApiClient, createDeviceCsr, type BootstrapPollResult } from '@tds/server';
import { attestationMessage, type BootstrapResponse } from '@tds/server/contract';

export interface DeviceOptions {
  apiUrl: string;
  caPem: string;
  localAddress?: string;
  clock?: () => number;
}

/**
 * A device doing zero-touch onboarding as docs/zero-touch.md says, written in the test (the firmware
 * and the Pi agent implement the same contract): a real key made here, a real CSR, real signatures,
 * poll timestamps from the server's clock (`server_time` plus the time elapsed since).
 */
export class ScriptedDevice {
  readonly api: ApiClient;
  key!: KeyObject;
  csrPem!: string;
  birth: { certificatePem: string; key: KeyObject } | undefined;
  request: BootstrapResponse | undefined;
  /** Server time minus local time, in seconds, from the last bootstrap answer. */
  private skew = 0;

  /** The device's own clock in ms: it need not be right, only advance (tests that move the server's time move it too). */
  private readonly clock: () => number;

  private constructor(
    readonly mac: string,
    options: DeviceOptions,
  ) {
    this.api = new ApiClient({ baseUrl: options.apiUrl, caPem: options.caPem, ...(options.localAddress ? { localAddress: options.localAddress } : {}) });
    this.clock = options.clock ?? (() => Date.now());
  }

  static async create(mac: string, options: DeviceOptions & { keyType?: 'ec' | 'rsa'; commonName?: string }): Promise<ScriptedDevice> {
    const d = new ScriptedDevice(mac, options);
    await d.newKey(options.keyType ?? 'ec', options.commonName);
    return d;
  }

  /** A new operational key and CSR (as after a reset). */
  async newKey(keyType: 'ec' | 'rsa' = 'ec', commonName?: string): Promise<void> {
    const made = await createDeviceCsr({ mac: this.mac, keyType, ...(commonName ? { commonName } : {}) });
    this.key = createPrivateKey(made.privateKeyPem);
    this.csrPem = made.csrPem;
  }

  /** A birth key + CSR; the caller has the bench issue the birth certificate for it. */
  static async birthCsr(mac: string, keyType: 'ec' | 'rsa' = 'ec'): Promise<{ csrPem: string; key: KeyObject }> {
    const made = await createDeviceCsr({ mac, keyType });
    return { csrPem: made.csrPem, key: createPrivateKey(made.privateKeyPem) };
  }

  static signB64(key: KeyObject, message: string): string {
    return sign('sha256', Buffer.from(message, 'ascii'), key).toString('base64');
  }

  csrSha256(): string {
    const der = Buffer.from(this.csrPem.replace(/-----[^-]+-----/g, '').replace(/\s+/g, ''), 'base64');
    return createHash('sha256').update(der).digest('hex');
  }

  /** The fields of an attested bootstrap body, signed with the birth key (or `signWith`). */
  async attestation(options: { nonce?: string; signWith?: KeyObject } = {}): Promise<{ birth_certificate_pem: string; nonce: string; attestation_signature: string }> {
    if (!this.birth) throw new Error('this device has no birth identity');
    const nonce = options.nonce ?? (await this.api.bootstrapNonce(this.mac)).nonce;
    const signature = ScriptedDevice.signB64(options.signWith ?? this.birth.key, attestationMessage(this.mac, nonce, this.csrSha256()));
    return { birth_certificate_pem: this.birth.certificatePem, nonce, attestation_signature: signature };
  }

  async bootstrapOpen(extra: { model?: string; firmware_version?: string } = {}): Promise<BootstrapResponse> {
    return this.remember(await this.api.bootstrap({ mac_address: this.mac, csr_pem: this.csrPem, ...extra }));
  }

  async bootstrapAttested(extra: { model?: string; firmware_version?: string } = {}): Promise<BootstrapResponse> {
    return this.remember(await this.api.bootstrap({ mac_address: this.mac, csr_pem: this.csrPem, ...extra, ...(await this.attestation()) }));
  }

  private remember(r: BootstrapResponse): BootstrapResponse {
    this.request = r;
    this.skew = r.server_time - Math.floor(this.clock() / 1000);
    return r;
  }

  /** The device's idea of the server's time, in Unix seconds. */
  serverNow(): number {
    return Math.floor(this.clock() / 1000) + this.skew;
  }

  /** One signed poll; `timestamp` defaults to the server's time as the device knows it. */
  poll(options: { timestamp?: number; signWith?: KeyObject; id?: string } = {}): Promise<BootstrapPollResult> {
    const id = options.id ?? this.request?.bootstrap_id;
    if (!id) throw new Error('bootstrap first');
    return this.api.pollBootstrap(id, options.timestamp ?? this.serverNow(), (m) => ScriptedDevice.signB64(options.signWith ?? this.key, m));
  }

  close(): void {
    this.api.close();
  }
}
