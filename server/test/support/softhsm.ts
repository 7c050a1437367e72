import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { requireTool } from '../../../test/support/tools.js';
import { tempDir } from '../../../test/support/temp.js';
import { run } from './run.js';

/** Debian's SoftHSM2 module. */
export const SOFTHSM_MODULE = '/usr/lib/softhsm/libsofthsm2.so';

/**
 * A private SoftHSM2 installation for one test file: its own config and token folder (SOFTHSM2_CONF),
 * tokens made with `softhsm2-util --init-token --free`, and OpenSC's `pkcs11-tool` as an
 * independent reader of what the tokens hold.
 */
export class SoftHsm {
  readonly conf: string;
  private readonly dir = tempDir('tds-softhsm-');
  private readonly tokens: string;
  private readonly util = requireTool('softhsm2-util', 'softhsm2');
  private readonly tool = requireTool('pkcs11-tool', 'opensc');

  constructor() {
    this.tokens = path.join(this.dir.path, 'tokens');
    mkdirSync(this.tokens, { mode: 0o700 });
    this.conf = path.join(this.dir.path, 'softhsm2.conf');
    writeFileSync(this.conf, `directories.tokendir = ${this.tokens}\nobjectstore.backend = file\nlog.level = ERROR\nslots.removable = false\n`);
  }

  /** Environment for processes that load the module (the CLI, pkcs11-tool). */
  get env(): Record<string, string> {
    return { SOFTHSM2_CONF: this.conf };
  }

  async initToken(label: string, pin: string, soPin = '87654321'): Promise<void> {
    const r = await run(this.util, ['--init-token', '--free', '--label', label, '--so-pin', soPin, '--pin', pin], { env: this.env });
    if (r.code !== 0) throw new Error(`softhsm2-util --init-token failed: ${r.output}`);
  }

  /** pkcs11-tool on the token labelled `token`, logged in with `pin`. */
  async pkcs11Tool(token: string, pin: string, args: string[]): Promise<{ code: number | string; output: string }> {
    const r = await run(this.tool, ['--module', SOFTHSM_MODULE, '--token-label', token, '--login', '--pin', pin, ...args], { env: this.env });
    return { code: r.code, output: r.output };
  }

  /** Takes every token away (its folder moves aside), as pulling out a USB token would. */
  unplug(): void {
    renameSync(this.tokens, `${this.tokens}-unplugged`);
  }

  replug(): void {
    renameSync(`${this.tokens}-unplugged`, this.tokens);
  }

  remove(): void {
    this.dir.remove();
  }
}
