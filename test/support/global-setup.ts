import { existsSync } from 'node:fs';
import path from 'node:path';

// Product binaries (server CLIs, station CLI) are exercised from their compiled output, as users run
// them. The README's test command builds first; this says so clearly if someone runs vitest alone.
export default function setup(): void {
  const root = path.resolve(import.meta.dirname, '../..');
  const needed = ['server/dist/cli/tds-server.js'];
  const missing = needed.filter((f) => !existsSync(path.join(root, f)));
  if (missing.length > 0) {
    console.warn(`[tests] not built yet (${missing.join(', ')}): run "npm run build" first, or use "npm test".`);
  }
}
