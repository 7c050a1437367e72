import { createRequire } from 'node:module';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = path.resolve(import.meta.dirname, '../..');
const require = createRequire(import.meta.url);

interface BuilderConfig {
  asar?: boolean;
  electronFuses?: Record<string, boolean>;
  files?: unknown;
}

/** electron-builder's own config loader and schema validator (what `electron-builder` runs first). */
function builder(): { load(): Promise<BuilderConfig>; validate(config: BuilderConfig): Promise<void> } {
  const { getConfig, validateConfiguration } = require('app-builder-lib/out/util/config/config.js') as {
    getConfig(projectDir: string, configPath: string | null, configFromOptions: null): Promise<BuilderConfig>;
    validateConfiguration(config: BuilderConfig, logger: unknown): Promise<void>;
  };
  const { DebugLogger } = require('builder-util') as { DebugLogger: new (enabled: boolean) => unknown };
  return {
    load: () => getConfig(ROOT, path.join(ROOT, 'electron-builder.yml'), null),
    validate: (config) => validateConfiguration(config, new DebugLogger(false)),
  };
}

// Packaging cannot run here (no Electron binary to package), so the packaging configuration itself is
// checked: electron-builder's own loader and validator read electron-builder.yml, and the Electron
// fuses that close a packaged app to code injection are set.
describe('electron-builder configuration (packaging is not run here)', () => {
  it('passes electron-builder\'s validation and sets the Electron fuses', async () => {
    const b = builder();
    const config = await b.load();
    await b.validate(config);
    expect(config.asar).toBe(true);
    expect(config.electronFuses).toEqual({
      runAsNode: false,
      enableCookieEncryption: true,
      enableNodeOptionsEnvironmentVariable: false,
      enableNodeCliInspectArguments: false,
      enableEmbeddedAsarIntegrityValidation: true,
      onlyLoadAppFromAsar: true,
      grantFileProtocolExtraPrivileges: false,
    });
    // out/** ships the glue and the core's bundle (out/main/core.js, which the utility process runs).
    expect(JSON.stringify(config.files)).toContain('"out/**"');
  });

  it('would refuse a fuse it does not know (the validator is really consulted)', async () => {
    const b = builder();
    const config = await b.load();
    await expect(b.validate({ ...config, electronFuses: { ...config.electronFuses, runAsNodee: false } })).rejects.toThrow(/runAsNodee|electronFuses/);
  });
});
