import { useEffect, useRef, type RefObject } from 'react';

/**
 * Keyboard and screen-reader users land on what just appeared: when `key` changes to a value, the
 * element `pick` chooses inside the ref'd one takes focus and scrolls into view. Local to the Field
 * screen until the renderer has one shared focus helper.
 */
export function useFocusWhenShown<T extends HTMLElement>(key: string | null | undefined, pick: (root: T) => HTMLElement | null): RefObject<T | null> {
  const ref = useRef<T>(null);
  const pickRef = useRef(pick);
  useEffect(() => {
    pickRef.current = pick;
  });
  useEffect(() => {
    if (!key || !ref.current) return;
    const el = pickRef.current(ref.current);
    if (!el) return;
    el.focus({ preventScroll: true });
    el.scrollIntoView({ block: 'center', behavior: 'instant' });
  }, [key]);
  return ref;
}

/** Remembers the element that had focus, to give it back when a dialog closes. */
export function rememberFocus(): () => void {
  const opener = document.activeElement instanceof HTMLElement ? document.activeElement : null;
  return () => requestAnimationFrame(() => opener?.isConnected && opener.focus());
}
