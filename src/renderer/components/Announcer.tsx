import { useEffect, useState } from 'react';

/**
 * One pair of live regions for the whole app (polite and assertive): `announce()` says something to
 * screen-reader users without moving focus (a scan that went nowhere, a board that finished). The
 * regions exist from the start, as screen readers only follow regions already in the page.
 */

type Politeness = 'polite' | 'assertive';
type Listener = (text: string, politeness: Politeness) => void;

const listeners = new Set<Listener>();

export function announce(text: string, politeness: Politeness = 'polite'): void {
  for (const l of listeners) l(text, politeness);
}

export function Announcer() {
  const [polite, setPolite] = useState('');
  const [assertive, setAssertive] = useState('');
  useEffect(() => {
    const timers: number[] = [];
    const l: Listener = (text, politeness) => {
      const set = politeness === 'assertive' ? setAssertive : setPolite;
      // Cleared first, so the same sentence twice in a row is announced twice.
      set('');
      timers.push(window.setTimeout(() => set(text), 50));
    };
    listeners.add(l);
    return () => {
      listeners.delete(l);
      timers.forEach((t) => clearTimeout(t));
    };
  }, []);
  return (
    <>
      <div className="visually-hidden" role="status" aria-live="polite" aria-atomic="true" data-testid="announce-polite">
        {polite}
      </div>
      <div className="visually-hidden" role="alert" aria-live="assertive" aria-atomic="true" data-testid="announce-assertive">
        {assertive}
      </div>
    </>
  );
}
