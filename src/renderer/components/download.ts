import type { FileData } from '../../shared/views.js';

/** Saves a file the core produced (CSV, label, ZIP) through the browser's download. */
export function saveFile(file: FileData): void {
  const bytes = Uint8Array.from(atob(file.base64), (c) => c.charCodeAt(0));
  saveBlob(new Blob([bytes], { type: file.mime }), file.fileName);
}

export function saveBlob(blob: Blob, fileName: string): void {
  const url = URL.createObjectURL(blob);
  const a = document.createElement('a');
  a.href = url;
  a.download = fileName;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

export function dataUrl(file: FileData): string {
  return `data:${file.mime};base64,${file.base64}`;
}
