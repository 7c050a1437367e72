import type { NewAuditEvent, NewCertificate } from '@tds/server/store';

/**
 * Records the store-contract cases build (store-contract.test.ts and the case modules in
 * `server/test/contract/`): an audit event, and a device or service certificate with a fresh serial.
 */
export const audit = (action: string, accountId: number | null = null): NewAuditEvent => ({
  at: '2026-01-01T00:00:00Z',
  accountId,
  actor: 'test',
  action,
  object: null,
  sourceIp: null,
  result: 'ok',
  detail: null,
});

let serialCounter = 0;
export const cert = (mac: string, expiresAt = '2036-01-01T00:00:00Z', kind: NewCertificate['kind'] = 'device'): NewCertificate => ({
  kind,
  serialNumber: `ABCD${String(++serialCounter).padStart(8, '0')}`,
  subjectCn: mac,
  certificatePem: '-----BEGIN CERTIFICATE-----\n(test)\n-----END CERTIFICATE-----\n',
  keyOrigin: 'device',
  keyType: 'ec',
  issuedAt: '2026-01-01T00:00:00Z',
  expiresAt,
});
