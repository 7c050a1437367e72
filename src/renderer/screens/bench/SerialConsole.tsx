import { useEffect, useRef } from 'react';

/**
 * A board's output as lines: its latest job's log (esptool steps, then the device's boot log)
 * followed by raw serial lines while the console is open. Not a live region: it is far too chatty
 * for a screen reader; the card's state carries what matters.
 */
export function SerialConsole({ lines, label, empty }: { lines: string[]; label: string; empty: string }) {
  const ref = useRef<HTMLPreElement>(null);
  // After the frame: the panel may have just opened (a closed dialog has no height to scroll).
  useEffect(() => {
    const id = requestAnimationFrame(() => {
      const el = ref.current;
      if (el) el.scrollTop = el.scrollHeight;
    });
    return () => cancelAnimationFrame(id);
  }, [lines.length]);
  return (
    <pre ref={ref} className="console console--tall" tabIndex={0} aria-label={label} data-testid="console">
      {lines.length ? lines.slice(-1000).join('\n') : empty}
    </pre>
  );
}
