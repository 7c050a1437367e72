import { readFileSync, writeFileSync } from 'node:fs';
import { PNG } from 'pngjs';

const W = 640;
const H = 480;

/**
 * A video file for Chromium's fake camera (`--use-fake-device-for-media-stream
 * --use-file-for-fake-video-capture=FILE`): the PNG (e.g. a label the station rendered) centred on a
 * white 640 × 480 picture, as YUV4MPEG2 4:2:0 (what Chromium reads without any encoder). Chromium
 * plays the frames in a loop.
 */
export function pngToY4m(pngFile: string, y4mFile: string, options: { widthFraction?: number } = {}): void {
  const png = PNG.sync.read(readFileSync(pngFile));
  const y = Buffer.alloc(W * H, 235); // white in studio-range luma
  const scale = Math.min(((options.widthFraction ?? 0.9) * W) / png.width, (0.9 * H) / png.height);
  const w = Math.round(png.width * scale);
  const h = Math.round(png.height * scale);
  const x0 = Math.floor((W - w) / 2);
  const y0 = Math.floor((H - h) / 2);
  for (let r = 0; r < h; r++) {
    for (let c = 0; c < w; c++) {
      // Nearest neighbour keeps the QR's modules sharp.
      const i = (Math.min(png.height - 1, Math.floor(r / scale)) * png.width + Math.min(png.width - 1, Math.floor(c / scale))) * 4;
      const a = png.data[i + 3]! / 255;
      const lum = (0.299 * png.data[i]! + 0.587 * png.data[i + 1]! + 0.114 * png.data[i + 2]!) * a + 255 * (1 - a);
      y[(y0 + r) * W + x0 + c] = Math.round(16 + (lum * 219) / 255);
    }
  }
  const chroma = Buffer.alloc((W / 2) * (H / 2), 128);
  const frame = Buffer.concat([Buffer.from('FRAME\n'), y, chroma, chroma]);
  writeFileSync(y4mFile, Buffer.concat([Buffer.from(`YUV4MPEG2 W${W} H${H} F10:1 Ip A1:1 C420jpeg\n`), frame, frame]));
}

/** Chromium switches for a fake camera showing `y4mFile`, with the permission prompt answered yes. */
export function fakeCameraArgs(y4mFile: string): string[] {
  return ['--use-fake-device-for-media-stream', `--use-file-for-fake-video-capture=${y4mFile}`, '--use-fake-ui-for-media-stream'];
}
