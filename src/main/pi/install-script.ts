import { randomBytes } from 'node:crypto';
import { shCommand } from './remote-shell.js';

/**
 * The install step as one remote command: a POSIX sh script, sent on stdin, that writes the
 * certificate, CA and agent configuration into a private folder it makes, runs `install.sh install`
 * from there and removes the folder. One round trip and no SFTP session instead of a folder made in
 * one command, three uploads and a removal in another (each costs a Pi a process start and the
 * link a round trip). Nothing secret travels here: the key was made on the Pi and stays there.
 */
export function installScript(files: Readonly<Record<string, string>>, installer: string, installerArgs: readonly string[]): { argv: string[]; stdin: string } {
  // A here-document ends at a line equal to its delimiter: one no file can contain.
  let end: string;
  do end = `TDS_END_${randomBytes(12).toString('hex')}`;
  while (Object.values(files).some((text) => text.includes(end)));
  const writes = Object.entries(files).map(([name, text]) => {
    if (!/^[A-Za-z0-9._-]+$/.test(name)) throw new Error(`not a plain file name: ${name}`);
    return `cat >"$up/${name}" <<'${end}'\n${text.endsWith('\n') ? text : `${text}\n`}${end}\n`;
  });
  const stdin = [
    'set -u',
    'umask 022',
    'up=$(mktemp -d "${TMPDIR:-/tmp}/tds-pi.XXXXXXXX") || { echo "ERROR: cannot make a private folder for the new files" >&2; exit 5; }',
    `trap 'rm -rf -- "$up"' EXIT`,
    ...writes,
    // Its stdin is not this script's: nothing it runs may read the rest of it.
    `${shCommand(['sh', installer, 'install'])} --from "$up" ${shCommand(installerArgs)} </dev/null`,
    '',
  ].join('\n');
  return { argv: ['sh', '-s'], stdin };
}
