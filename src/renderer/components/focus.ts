import { useEffect, useRef, type RefObject } from 'react';

/**
 * Focus management shared by every screen, so keyboard and screen-reader users always know where
 * they are:
 * - a new question, form or dialog takes focus when it appears (`useFocusOnAppear`);
 * - when it goes away, focus goes back where it was (`useReturnFocus`), or to the screen's *home*:
 *   the one control a screen wants focus to return to after every action (the Bench's scan field,
 *   where a barcode scanner types). A screen registers it with `useFocusHome`.
 */

type Getter = () => HTMLElement | null;

let home: Getter | null = null;

/** Focuses `target` once the browser has drawn the current change (an element that just mounted). */
export function focusSoon(target: HTMLElement | null | Getter, options: FocusOptions = {}): void {
  requestAnimationFrame(() => {
    const el = typeof target === 'function' ? target() : target;
    if (el && el.isConnected) el.focus(options);
  });
}

/** Registers the screen's home control while the calling component is mounted. */
export function useFocusHome(ref: RefObject<HTMLElement | null>): void {
  useEffect(() => {
    const getter: Getter = () => ref.current;
    home = getter;
    return () => {
      if (home === getter) home = null;
    };
  }, [ref]);
}

/** The current screen's home control, if it has one and it is on the page. */
export function focusHomeElement(): HTMLElement | null {
  const el = home?.() ?? null;
  return el && el.isConnected ? el : null;
}

/**
 * Sends focus back to the screen's home control (after an action), unless a modal dialog or an
 * open question holds it. Returns whether there was a home to go to.
 */
export function returnFocusHome(): boolean {
  if (!home) return false;
  requestAnimationFrame(() => {
    if (document.querySelector('dialog[open]')) return;
    const el = focusHomeElement();
    if (!el) return;
    const active = document.activeElement;
    // A question that just took focus keeps it: the operator has to answer it first.
    if (active instanceof HTMLElement && active.closest('[data-focus-keep]')) return;
    el.focus({ preventScroll: true });
  });
  return true;
}

/** A ref whose element takes focus when it appears (and again whenever `key` changes). */
export function useFocusOnAppear<T extends HTMLElement>(key: unknown = true): RefObject<T | null> {
  const ref = useRef<T>(null);
  useEffect(() => {
    if (key === false || key === null || key === undefined) return;
    focusSoon(() => ref.current);
  }, [key]);
  return ref;
}

/**
 * While `open`, remembers what had focus before; when `open` turns false (or the component goes
 * away) focus returns there, or to the screen's home control when that element is gone.
 */
export function useReturnFocus(open: boolean): void {
  const previous = useRef<HTMLElement | null>(null);
  useEffect(() => {
    if (!open) return;
    previous.current = document.activeElement instanceof HTMLElement ? document.activeElement : null;
    return () => {
      const back = previous.current;
      previous.current = null;
      requestAnimationFrame(() => {
        if (document.querySelector('dialog[open]')) return;
        const target = home ? focusHomeElement() : back && back.isConnected ? back : null;
        target?.focus({ preventScroll: true });
      });
    };
  }, [open]);
}
