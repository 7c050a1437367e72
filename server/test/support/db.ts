import path from 'node:path';
import Database from 'better-sqlite3';

/** Row counts of everything a request could write, read straight from the server's database. */
export function snapshot(dataDir: string): Record<string, number | string | null> {
  const db = new Database(path.join(dataDir, 'tds-server.db'), { readonly: true, fileMustExist: true });
  try {
    const n = (sql: string): number => (db.prepare(sql).get() as { n: number }).n;
    const s = (sql: string): string | null => (db.prepare(sql).get() as { s: string | null }).s;
    return {
      accounts: n('SELECT count(*) n FROM accounts'),
      tokens: n('SELECT count(*) n FROM api_tokens WHERE revoked_at IS NULL'),
      gateways: n('SELECT count(*) n FROM gateways'),
      gatewayState: (db.prepare("SELECT group_concat(id || codigo || nome || updated_at, '|') s FROM gateways").get() as { s: string | null }).s,
      certificates: n('SELECT count(*) n FROM certificates'),
      activeOrPending: n("SELECT count(*) n FROM certificates WHERE status IN ('active','pending')"),
      pendingKeys: n('SELECT count(*) n FROM pending_keys'),
      crlNumber: n('SELECT last_number n FROM crl_state'),
      // zero-touch onboarding
      births: s("SELECT group_concat(serial_number || status || coalesce(claimed_at, '-'), '|') s FROM birth_certificates"),
      birthCrlNumber: n('SELECT last_number n FROM birth_crl_state'),
      bootstrapRequests: s("SELECT group_concat(id || status || coalesce(last_poll_ts, '-') || coalesce(certificate_id, '-'), '|') s FROM bootstrap_requests"),
      nonces: s("SELECT group_concat(nonce || coalesce(used_at, '-'), '|') s FROM bootstrap_nonces"),
      claimFailures: n('SELECT count(*) n FROM claim_failures'),
    };
  } finally {
    db.close();
  }
}
