import { ApiClient, ApiError, ServerUnreachableError } from '@tds/server/client';
import { StationError } from '../../shared/ipc-errors.js';
import type { ServerIdentityView } from '../../shared/views.js';
import { ApiClientIssuer } from '../certs/api-client-issuer.js';
import { SECRET } from '../settings/secret-store.js';
import type { SettingsService } from './settings-service.js';

export interface ServerEndpoint {
  url: string;
  token: string;
  caPem: string | null;
}

/** Server errors in the contract's terms, naming what to fix. */
export function toStationError(err: unknown): unknown {
  if (err instanceof ServerUnreachableError) {
    return new StationError('SERVER_UNREACHABLE', `${err.baseUrl}: ${err.message}`, { hint: 'Check the server URL (Settings → Server), the network, and that the server runs.' });
  }
  if (err instanceof ApiError) {
    if (err.status === 401) return new StationError('UNAUTHORIZED', `The server refused the token (${err.error}).`, { hint: 'Paste a valid API token in Settings → Server.' });
    if (err.status === 403) return new StationError('FORBIDDEN', err.error, { hint: 'Use a token with the operator or admin role.' });
    if (err.status === 404) return new StationError('NOT_FOUND', err.error);
    if (err.status === 409) return new StationError('CONFLICT', err.error);
    if (err.status === 400 || err.status === 413) {
      return new StationError('INVALID_INPUT', err.error, err.field ? { issues: [{ field: err.field, key: err.error, message: err.error }] } : {});
    }
    return new StationError('SERVER_REJECTED', `${err.status}: ${err.error}`);
  }
  return err;
}

/** The jobs' issuer now lives in src/main/certs; re-exported for code that imported it from here. */
export { ApiClientIssuer } from '../certs/api-client-issuer.js';

/**
 * The station's connection to its issuance server: the bundled one (standalone mode) or a remote
 * URL with a token from the secret store and an optional pinned CA. One ApiClient per endpoint.
 */
export class ServerLink {
  private cached: { key: string; client: ApiClient } | undefined;
  private identityCache: { key: string; value: ServerIdentityView } | undefined;

  constructor(
    private readonly settings: SettingsService,
    private readonly bundled: () => ServerEndpoint | null,
  ) {}

  async endpoint(): Promise<ServerEndpoint> {
    const s = this.settings.current.server;
    if (s.mode === 'bundled') {
      const b = this.bundled();
      if (!b) throw new StationError('NOT_CONFIGURED', 'The bundled server is not running.', { hint: 'Finish the first-run set-up, or configure a remote server in Settings → Server.' });
      return b;
    }
    const token = await this.settings.secrets.get(SECRET.serverToken);
    if (!s.url || !token) throw new StationError('NOT_CONFIGURED', 'No server URL and token are set.', { hint: 'Fill in Settings → Server.' });
    return { url: s.url, token, caPem: s.caPem };
  }

  async client(): Promise<ApiClient> {
    const e = await this.endpoint();
    const key = `${e.url}\0${e.token}\0${e.caPem ?? ''}`;
    if (this.cached?.key !== key) {
      this.cached?.client.close();
      this.cached = { key, client: new ApiClient({ baseUrl: e.url, token: e.token, ...(e.caPem ? { caPem: e.caPem } : {}), timeoutMs: 20_000 }) };
    }
    return this.cached.client;
  }

  /**
   * The station's token as the server knows it (role, account, server admin), or null when there is
   * no server, it cannot be reached, refuses the token, or predates `whoami/`. A token's role never
   * changes, so an answer is kept for as long as the endpoint and token stay the same.
   */
  async identity(): Promise<ServerIdentityView | null> {
    let key: string;
    let client: ApiClient;
    try {
      const e = await this.endpoint();
      key = `${e.url}\0${e.token}\0${e.caPem ?? ''}`;
      if (this.identityCache?.key === key) return this.identityCache.value;
      client = await this.client();
    } catch {
      return null;
    }
    try {
      const w = await client.whoami();
      const value: ServerIdentityView = { tokenId: w.token_id, accountId: w.conta_id, role: w.role, serverAdmin: w.server_admin };
      this.identityCache = { key, value };
      return value;
    } catch {
      return null;
    }
  }

  /** After a change of server or token, or a restore: ask again. */
  forgetIdentity(): void {
    this.identityCache = undefined;
  }

  /** The jobs' issuer over this endpoint's client (shared, so it is not closed by the jobs). */
  async issuer(): Promise<ApiClientIssuer> {
    const e = await this.endpoint();
    return new ApiClientIssuer(await this.client(), 'station', e.caPem ?? undefined);
  }

  /** Runs `fn` with the client, mapping server errors to contract errors. */
  async call<T>(fn: (c: ApiClient) => Promise<T>): Promise<T> {
    const c = await this.client();
    try {
      return await fn(c);
    } catch (err) {
      throw toStationError(err);
    }
  }

  /** "Test connection": reachable, TLS as pinned, token accepted. */
  static async test(url: string, token: string | undefined, caPem: string | null | undefined): Promise<string> {
    const c = new ApiClient({ baseUrl: url, ...(token ? { token } : {}), ...(caPem ? { caPem } : {}), timeoutMs: 10_000 });
    try {
      await c.health();
      if (!token) return `${c.apiUrl} answers (no token given, not checked)`;
      const page = await c.listGateways({ page_size: 1 });
      return `${c.apiUrl}, token accepted, ${page.count} gateways in this account`;
    } catch (err) {
      throw toStationError(err);
    } finally {
      c.close();
    }
  }

  close(): void {
    this.cached?.client.close();
    this.cached = undefined;
    this.identityCache = undefined;
  }
}
