import { startProcess } from '../../../test/support/processes.js';

/** Runs a short-lived command through startProcess (stopped by PID on failure) and collects its output. */
export async function run(
  command: string,
  args: readonly string[],
  options: { input?: string | Buffer; env?: Record<string, string>; cwd?: string; timeoutMs?: number } = {},
): Promise<{ code: number | string; stdout: string; output: string }> {
  const p = startProcess(command, command, args, {
    env: { ...process.env, ...(options.env ?? {}) },
    ...(options.cwd ? { cwd: options.cwd } : {}),
  });
  let stdout = '';
  p.child.stdout?.on('data', (c: Buffer) => (stdout += c.toString('utf8')));
  if (options.input !== undefined) p.child.stdin?.end(options.input);
  else p.child.stdin?.end();
  const timer = setTimeout(() => void p.kill(), options.timeoutMs ?? 30_000);
  const code = await p.exited();
  clearTimeout(timer);
  return { code, stdout, output: p.output() };
}
