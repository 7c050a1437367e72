import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';

const ROOT = path.resolve(import.meta.dirname, '../..');

/** The built renderer (dist/renderer); built once if missing (`npm run build` normally makes it). */
export function ensureRendererBuilt(): string {
  const dir = path.join(ROOT, 'dist/renderer');
  if (!existsSync(path.join(dir, 'index.html'))) {
    execFileSync('npx', ['vite', 'build', '--config', 'vite.renderer.config.ts'], { cwd: ROOT, stdio: 'ignore' });
  }
  return dir;
}
