import type { StationClient } from '../../../shared/ipc.js';

/**
 * What the Bench does when a board passes or fails, besides the card: a beep (Web Audio, no sound
 * file) and an OS notification (the Electron shell shows it through the contract; in a browser the
 * Notification API does, once the technician allowed it).
 */

let audio: AudioContext | undefined;

/** Two short rising tones for a pass, one low long tone for a failure. */
export function beep(kind: 'pass' | 'fail'): void {
  const Ctx = window.AudioContext;
  if (!Ctx) return;
  audio ??= new Ctx();
  void audio.resume().catch(() => undefined);
  const tones: Array<[frequency: number, at: number, length: number]> = kind === 'pass' ? [[880, 0, 0.12], [1320, 0.16, 0.14]] : [[220, 0, 0.55]];
  const now = audio.currentTime;
  for (const [frequency, at, length] of tones) {
    const osc = audio.createOscillator();
    const gain = audio.createGain();
    osc.type = kind === 'pass' ? 'sine' : 'square';
    osc.frequency.value = frequency;
    // A short fade in and out: no click at the start and end of the tone.
    gain.gain.setValueAtTime(0, now + at);
    gain.gain.linearRampToValueAtTime(0.2, now + at + 0.01);
    gain.gain.linearRampToValueAtTime(0, now + at + length);
    osc.connect(gain).connect(audio.destination);
    osc.start(now + at);
    osc.stop(now + at + length + 0.02);
  }
}

/** Asks the browser for notifications (call from a click: browsers only ask then). True when allowed. */
export async function allowNotifications(): Promise<boolean> {
  if (window.tdsStation) return true;
  if (!('Notification' in window)) return false;
  if (Notification.permission === 'granted') return true;
  if (Notification.permission === 'denied') return false;
  return (await Notification.requestPermission()) === 'granted';
}

export async function notify(client: StationClient, title: string, body: string): Promise<void> {
  if (window.tdsStation) {
    await client.invoke('app.notify', { title, body }).catch(() => undefined);
    return;
  }
  if (!('Notification' in window) || Notification.permission !== 'granted') return;
  new Notification(title, { body, tag: `${title}:${body}` });
}
