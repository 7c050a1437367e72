/** Where tds-provision saves one device's files. */
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { CliError } from '../common.js';

/**
 * Folder for one gateway's files: `<output>/<name>`, private (0700). `name` is a canonical MAC or
 * `gateway-<id>`, never a server's text taken as is: it must stay one folder below `output`.
 */
export function gatewayDir(output: string, name: string): string {
  if (!/^[A-Za-z0-9:_-]+$/.test(name)) throw new CliError(`refusing to use '${name}' as a folder name`);
  const dir = path.resolve(output, name);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  return dir;
}
