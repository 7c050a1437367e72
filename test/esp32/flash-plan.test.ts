import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadBundle } from '../../src/main/esp32/bundle.js';
import { changedRuns, padImage, SECTOR, sectorDigests } from '../../src/main/esp32/flash-plan.js';
import { ImageHistory } from '../../src/main/esp32/image-history.js';
import { patchImageByte, retargetImage } from '../sim/esp32/esp-image.js';
import { fixturePart, writeTestBundle } from '../sim/esp32/multi-chip-bundle.js';
import { tempDir } from '../support/temp.js';

describe('sector diff plan', () => {
  it('finds the sectors that differ, joins close runs, and ends the last run at the image end', () => {
    const old = new Uint8Array(10 * SECTOR + 100).fill(1);
    const img = Uint8Array.from(old);
    img[2 * SECTOR + 5] = 9; // sector 2
    img[4 * SECTOR] = 9; // sector 4 (gap of one sector: joined with 2)
    img[8 * SECTOR] = 9; // sector 8
    img[10 * SECTOR + 50] = 9; // the partial last sector
    const runs = changedRuns(img, sectorDigests(img), sectorDigests(old));
    expect(runs).toEqual([
      { offset: 2 * SECTOR, length: 3 * SECTOR },
      { offset: 8 * SECTOR, length: 2 * SECTOR + 100 },
    ]);
    expect(changedRuns(img, sectorDigests(img), sectorDigests(old), 0)).toHaveLength(4);
    expect(changedRuns(old, sectorDigests(old), sectorDigests(old))).toEqual([]);
    // A longer new image: sectors past the known one always differ.
    const longer = new Uint8Array(12 * SECTOR).fill(1);
    expect(changedRuns(longer, sectorDigests(longer), sectorDigests(new Uint8Array(10 * SECTOR).fill(1)))).toEqual([{ offset: 10 * SECTOR, length: 2 * SECTOR }]);
  });

  it('a partial last sector is digested as the flash holds it (0xFF after the image)', () => {
    const a = new Uint8Array(SECTOR + 10).fill(3);
    const b = new Uint8Array(SECTOR + 12).fill(3);
    b.fill(0xff, SECTOR + 10);
    expect(sectorDigests(a)).toEqual(sectorDigests(b));
    expect(padImage(new Uint8Array([1, 2, 3, 4, 5]))).toEqual(new Uint8Array([1, 2, 3, 4, 5, 0xff, 0xff, 0xff]));
  });

  it('one changed byte in the real app touches its sector and the image end (checksum + SHA-256) only', () => {
    const app = fixturePart('app.bin');
    const { image, offset } = patchImageByte(app, 0.4);
    const runs = changedRuns(padImage(image), sectorDigests(padImage(image)), sectorDigests(padImage(app)));
    const sectors = runs.flatMap((r) => Array.from({ length: Math.ceil(r.length / SECTOR) }, (_, i) => r.offset / SECTOR + i));
    expect(sectors).toContain(Math.floor(offset / SECTOR));
    expect(sectors.length).toBeLessThanOrEqual(3);
  });
});

describe('image history (sector digests per bundle, last bundle per MAC)', () => {
  it('records a build once and hands it back for the MAC whose last bundle it was', async () => {
    const dir = tempDir('tds-image-history-');
    try {
      const bundle = await loadBundle(writeTestBundle(path.join(dir.path, 'b'), ['ESP32', 'ESP32-S3']));
      const last = new Map<string, string>([['24:6f:28:00:00:01', bundle.sha256]]);
      const history = ImageHistory.inDataDir(path.join(dir.path, 'data'), (mac) => last.get(mac));
      expect(await history.previous('24:6f:28:00:00:01', 'ESP32')).toBeUndefined(); // not recorded yet
      await history.remember(bundle, bundle.builds[1]!);
      const prev = await history.previous('24:6f:28:00:00:01', 'ESP32-S3');
      expect(prev?.bundleSha256).toBe(bundle.sha256);
      expect(prev?.parts.map((p) => p.address)).toEqual([0x0, 0x8000, 0xe000, 0x10000]);
      expect(prev?.parts[3]!.sectors).toEqual(sectorDigests(padImage(bundle.builds[1]!.parts[3]!.data)));
      expect(await history.previous('24:6f:28:00:00:01', 'ESP32')).toBeUndefined(); // other family
      expect(await history.previous('24:6f:28:00:00:02', 'ESP32-S3')).toBeUndefined(); // unknown MAC
    } finally {
      dir.remove();
    }
  });

  it('a bundle whose image is for another chip than its build is refused', async () => {
    const dir = tempDir('tds-bundle-chip-');
    try {
      const manifest = writeTestBundle(dir.path, ['ESP32']);
      // Put an S3 app into the ESP32 build.
      writeFileSync(path.join(dir.path, 'app.bin'), retargetImage(fixturePart('app.bin'), 9));
      await expect(loadBundle(manifest)).rejects.toMatchObject({ code: 'BUNDLE_INVALID', message: expect.stringMatching(/app\.bin is built for ESP32-S3, not ESP32/) });
    } finally {
      dir.remove();
    }
  });
});
