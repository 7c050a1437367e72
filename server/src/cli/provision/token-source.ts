/**
 * Where tds-provision takes the API token from: never the command line, where every local user can
 * read it in the process list. A file (`--token-file`), standard input (`--token-stdin`; a hidden
 * prompt on a terminal), `$TDS_API_TOKEN`, or the saved config, in that order.
 */
import { readFileSync } from 'node:fs';
import { CliError, promptHidden } from '../common.js';

export const TOKEN_ENV = 'TDS_API_TOKEN';

export const TOKEN_ON_COMMAND_LINE =
  `--token puts the API token on the command line, where other local users can read it in the process list; ` +
  `give it with --token-file FILE, --token-stdin, or $${TOKEN_ENV} (and "tds-provision config --token-file FILE" saves it)`;

export interface TokenOptions {
  /** Kept only to refuse it with the message above. */
  token?: string;
  tokenFile?: string;
  tokenStdin?: boolean;
}

/** The token given explicitly for this run (file or stdin), or undefined to fall back to $TDS_API_TOKEN and the config. */
export async function explicitToken(o: TokenOptions): Promise<string | undefined> {
  if (o.token !== undefined) throw new CliError(TOKEN_ON_COMMAND_LINE);
  if (o.tokenFile !== undefined && o.tokenStdin) throw new CliError('give the token with --token-file or --token-stdin, not both');
  let text: string | undefined;
  if (o.tokenFile !== undefined) {
    try {
      text = readFileSync(o.tokenFile, 'utf8');
    } catch (err) {
      throw new CliError(`cannot read the token file ${o.tokenFile}: ${(err as Error).message}`);
    }
  } else if (o.tokenStdin) {
    text = process.stdin.isTTY ? await promptHidden('API token: ') : await readStdin();
  }
  if (text === undefined) return undefined;
  const token = text.split(/\r?\n/)[0]!.trim();
  if (token === '') throw new CliError(o.tokenFile !== undefined ? `the token file ${o.tokenFile} is empty` : 'no token on standard input');
  return token;
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(Buffer.from(chunk as Buffer));
  return Buffer.concat(chunks).toString('utf8');
}
