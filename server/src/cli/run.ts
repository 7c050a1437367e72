/** Runs a commander program: user errors → one escaped line on stderr (or JSON with --json) and exit 1. */
import { CommanderError, type Command } from 'commander';
import { ZodError } from 'zod';
import { WrongPassphraseError } from '../ca/key-envelope.js';
import { ApiError, ServerUnreachableError } from '../client/errors.js';
import { CaImportError, IdentityError } from '../ca/authority.js';
import { TokenError, TokenUnavailableError } from '../ca/pkcs11/errors.js';
import { Pkcs11UriError } from '../ca/pkcs11/uri.js';
import { escapeControlChars, escapeJsonControlChars } from '../util/escape.js';

type ErrorClass = abstract new (...args: never[]) => Error;

export async function runCli(program: Command, userErrors: ErrorClass[] = []): Promise<void> {
  program.exitOverride();
  program.configureOutput({ writeErr: (s) => process.stderr.write(s) });
  const json = process.argv.includes('--json');
  try {
    await program.parseAsync(process.argv);
  } catch (err) {
    if (err instanceof CommanderError) {
      process.exitCode = err.exitCode;
      return;
    }
    const known = [WrongPassphraseError, ApiError, ServerUnreachableError, CaImportError, IdentityError, TokenError, TokenUnavailableError, Pkcs11UriError, ...userErrors].some((c) => err instanceof c);
    let message = err instanceof Error ? err.message : String(err);
    if (err instanceof ZodError) message = err.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ');
    const body: Record<string, unknown> = { error: message };
    if (err instanceof ApiError) {
      body.status = err.status;
      if (err.details) body.details = err.details;
    }
    if (err instanceof ServerUnreachableError) body.reason = err.reason;
    // Messages may carry a server's or a file's text: no control characters reach the terminal.
    if (json) process.stderr.write(escapeJsonControlChars(JSON.stringify(body)) + '\n');
    else process.stderr.write(`error: ${escapeControlChars(message)}\n`);
    if (!known && !(err instanceof ZodError) && !json && process.env.TDS_DEBUG) process.stderr.write(`${(err as Error).stack ?? ''}\n`);
    process.exitCode = 1;
  }
}
