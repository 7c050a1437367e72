import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { requireTool } from '../../../test/support/tools.js';
import { run } from './run.js';

/** The openssl command line as an independent judge of what the CA produced. */
export class OpenSsl {
  readonly bin = requireTool('openssl', 'openssl');
  private n = 0;

  constructor(private readonly dir: string) {}

  /** Writes text to a fresh file in the work folder and returns its path. */
  file(text: string, name = 'f'): string {
    const p = path.join(this.dir, `${name}-${this.n++}.pem`);
    writeFileSync(p, text);
    return p;
  }

  async run(args: string[], input?: string): Promise<{ code: number | string; stdout: string; output: string }> {
    return run(this.bin, args, input === undefined ? {} : { input });
  }

  /** `openssl verify` → true when it prints "OK" and exits 0. */
  async verify(caPem: string, certPem: string, crlPem?: string): Promise<{ ok: boolean; output: string }> {
    const args = ['verify', '-x509_strict', '-CAfile', this.file(caPem, 'ca')];
    if (crlPem) args.push('-crl_check', '-CRLfile', this.file(crlPem, 'crl'));
    args.push(this.file(certPem, 'cert'));
    const r = await this.run(args);
    return { ok: r.code === 0 && /: OK\s*$/m.test(r.stdout), output: r.output };
  }

  async text(certPem: string): Promise<string> {
    const r = await this.run(['x509', '-noout', '-text', '-in', this.file(certPem, 'cert')]);
    if (r.code !== 0) throw new Error(r.output);
    return r.stdout;
  }

  async crlText(crlPem: string, caPem: string): Promise<{ ok: boolean; text: string }> {
    const r = await this.run(['crl', '-noout', '-text', '-CAfile', this.file(caPem, 'ca'), '-in', this.file(crlPem, 'crl')]);
    return { ok: r.code === 0 && /verify OK/.test(r.output), text: r.output };
  }
}

/** The "X509v3 <name>" block of `openssl x509 -text` (critical flag + value lines). */
export function extensionBlock(text: string, name: string): { critical: boolean; value: string } | undefined {
  const lines = text.split('\n');
  const i = lines.findIndex((l) => l.trim().startsWith(`X509v3 ${name}:`));
  if (i < 0) return undefined;
  const value: string[] = [];
  for (let j = i + 1; j < lines.length && !/^\s*(X509v3|Signature Algorithm|Authority Information)/.test(lines[j]!); j++) value.push(lines[j]!.trim());
  return { critical: lines[i]!.includes('critical'), value: value.join(' ').trim() };
}
