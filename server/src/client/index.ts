// The HTTP client for the REST API, shared by tds-provision, the station and the tests.
export { ApiClient, type ApiClientOptions, type GatewayListQuery, type AuditListQuery, type BootstrapPollResult } from './api-client.js';
export { ApiError, ServerUnreachableError, type UnreachableReason } from './errors.js';
export type * from '../contract/api.js';
