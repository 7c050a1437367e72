import path from 'node:path';
import { z } from 'zod';
import type { StationLog } from '../log/station-log.js';
import { readFileIfExists, writeFileAtomic } from '@tds/server/util';
import type { BundleBuild, FirmwareBundle } from './bundle.js';
import { padImage, sectorDigests, type KnownImage } from './flash-plan.js';

/** Folder in the station's data folder: one file per bundle and chip family. */
export const IMAGE_DIGESTS_DIR = 'esp32-images';

const DigestFileSchema = z.object({
  version: z.literal(1),
  bundleSha256: z.string().regex(/^[0-9a-f]{64}$/),
  chipFamily: z.string(),
  parts: z.array(z.object({ address: z.number().int().nonnegative(), length: z.number().int().positive(), sectors: z.array(z.string()) })),
});

/** How a MAC's last image is found: the newest job of that MAC whose flash step finished. */
export type LastBundleLookup = (mac: string) => string | undefined;

/**
 * Reads the station log: the bundle SHA-256 of the newest ESP32 job for `mac` whose `flash` step is
 * done (the board verified every part's MD5 then). Uses the log's query API only.
 */
export function lastBundleFromLog(log: Pick<StationLog, 'query' | 'steps'>): LastBundleLookup {
  return (mac) => {
    for (const job of log.query({ mac, kind: 'esp32', limit: 50 })) {
      if (!job.firmwareSha256) continue;
      if (log.steps(job.id).some((s) => s.name === 'flash' && s.status === 'done')) return job.firmwareSha256;
    }
    return undefined;
  };
}

/**
 * Which image each board last received, for the sector diff: the station log says which bundle a
 * MAC was last flashed with, and this keeps that bundle's per-sector digests (written once per
 * bundle and chip family, atomically, in the data folder), so the old bundle's files are not needed.
 * Digests only: no device data (the data partition is never recorded).
 */
export class ImageHistory {
  private readonly written = new Set<string>();

  constructor(
    readonly dir: string,
    private readonly lastBundle: LastBundleLookup,
  ) {}

  static inDataDir(dataDir: string, lastBundle: LastBundleLookup): ImageHistory {
    return new ImageHistory(path.join(dataDir, IMAGE_DIGESTS_DIR), lastBundle);
  }

  /** The parts the MAC last received with its bundle (undefined when unknown), for a board of `chipFamily`. */
  async previous(mac: string, chipFamily: string): Promise<{ bundleSha256: string; parts: KnownImage[] } | undefined> {
    const sha = this.lastBundle(mac);
    if (!sha || !/^[0-9a-f]{64}$/.test(sha)) return undefined;
    const text = await readFileIfExists(this.file(sha, chipFamily));
    if (text === undefined) return undefined;
    try {
      const parsed = DigestFileSchema.parse(JSON.parse(text));
      if (parsed.bundleSha256 !== sha || parsed.chipFamily !== chipFamily) return undefined;
      return { bundleSha256: sha, parts: parsed.parts };
    } catch {
      return undefined; // a damaged cache entry only costs the diff: the parts are written whole
    }
  }

  /** Records the digests of a bundle's build (once; call it when the build was flashed). */
  async remember(bundle: Pick<FirmwareBundle, 'sha256'>, build: Pick<BundleBuild, 'chipFamily' | 'parts'>): Promise<void> {
    const file = this.file(bundle.sha256, build.chipFamily);
    if (this.written.has(file) || (await readFileIfExists(file)) !== undefined) {
      this.written.add(file);
      return;
    }
    const parts = build.parts.map((p) => ({ address: p.offset, length: padImage(p.data).length, sectors: sectorDigests(padImage(p.data)) }));
    await writeFileAtomic(file, JSON.stringify({ version: 1, bundleSha256: bundle.sha256, chipFamily: build.chipFamily, parts }), { mode: 0o600, createDir: true });
    this.written.add(file);
  }

  private file(sha: string, chipFamily: string): string {
    return path.join(this.dir, `${sha}-${chipFamily.toLowerCase().replace(/[^a-z0-9-]/g, '_')}.json`);
  }
}
