import type { PresenceHistoryView } from '../../../shared/views.js';

export type Stretch = { from: number; to: number; online: boolean | null };

/** The window cut into stretches of one state (unknown before the history, online, offline); a change and its undoing in the same second leave no stretch. */
export function stretchesOf(h: PresenceHistoryView): Stretch[] {
  const start = Date.parse(h.since);
  const end = Date.parse(h.until);
  const out: Stretch[] = [];
  let at = start;
  let online = h.stateAtStart;
  const push = (to: number): void => {
    const last = out.at(-1);
    if (to <= at) return;
    if (last && last.online === online) last.to = to;
    else out.push({ from: at, to, online });
  };
  for (const t of h.transitions) {
    const when = Math.min(Math.max(Date.parse(t.at), start), end);
    push(when);
    at = Math.max(at, when);
    online = t.online;
  }
  push(end);
  return out;
}
