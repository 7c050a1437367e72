/**
 * Errors of the PKCS#11 key store, in a file of their own so the CLI and the HTTP layer can tell
 * them apart without loading the native PKCS#11 binding.
 */

/** Something the operator must fix: wrong PIN, no such token or key, a key that may leave the token. */
export class TokenError extends Error {}

/** The token cannot be reached right now (the API answers 503; a retry may succeed). */
export class TokenUnavailableError extends Error {}
