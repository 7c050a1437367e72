import { useEffect, useRef } from 'react';

/** A barcode scanner types fast; a pause this long between keys ends what was typed. */
const GAP_MS = 400;

function editable(el: Element | null): boolean {
  if (!(el instanceof HTMLElement)) return false;
  if (el.isContentEditable) return true;
  if (el instanceof HTMLTextAreaElement || el instanceof HTMLSelectElement) return true;
  return el instanceof HTMLInputElement && !['button', 'checkbox', 'radio', 'submit', 'reset', 'file', 'range', 'color'].includes(el.type);
}

/**
 * A scan that does not land in the scan field: a barcode scanner is a keyboard, so when focus is on
 * a button (or nowhere) its characters would vanish and its Enter would press that button. While
 * the Bench is shown, such keystrokes are caught (before the focused control sees them) and handed
 * over as one scan; `open` says whether a dialog holds the keyboard (the scan is then reported, not
 * used).
 */
export function useStrayScan(onScan: (text: string, dialogOpen: boolean) => void): void {
  const handler = useRef(onScan);
  useEffect(() => {
    handler.current = onScan;
  });
  useEffect(() => {
    let buffer = '';
    let last = 0;
    const onKey = (e: KeyboardEvent): void => {
      if (e.ctrlKey || e.altKey || e.metaKey || e.isComposing) return;
      if (editable(document.activeElement)) {
        buffer = '';
        return;
      }
      const now = performance.now();
      if (now - last > GAP_MS) buffer = '';
      last = now;
      if (e.key === 'Enter') {
        if (buffer.length === 0) return;
        // The scanner's Enter must not press the focused button.
        e.preventDefault();
        e.stopPropagation();
        const text = buffer;
        buffer = '';
        handler.current(text, document.querySelector('dialog[open]') !== null);
        return;
      }
      // A space or other key starts nothing (Space presses buttons); printable characters collect.
      if (e.key.length === 1 && (buffer.length > 0 || e.key !== ' ')) {
        buffer += e.key;
        e.preventDefault();
      }
    };
    window.addEventListener('keydown', onKey, true);
    return () => window.removeEventListener('keydown', onKey, true);
  }, []);
}
