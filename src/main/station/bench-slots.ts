import type { BenchDevice, BenchSlot } from '../../shared/views.js';
import type { SerialDeviceDescriptor } from '../devices/serial-link.js';

/**
 * The Bench's slots: a hub position, known by the USB location the OS reports (the same for
 * whatever board is plugged in there, whatever /dev name it gets), or by the port path when the OS
 * reports no location. The operator names a slot once; the name is kept in the station settings.
 */

/** At most this many slot names are kept (a station with more hub positions is not a bench). */
export const MAX_SLOT_NAMES = 256;

export function slotKey(desc: SerialDeviceDescriptor): string {
  return desc.location ? `usb:${desc.location}` : `port:${desc.path}`;
}

export function slotOf(desc: SerialDeviceDescriptor, names: Readonly<Record<string, string>>): BenchSlot {
  const key = slotKey(desc);
  return { key, name: names[key] ?? null, location: desc.location ?? null };
}

const natural = (a: string, b: string): number => a.localeCompare(b, 'en', { numeric: true });

/**
 * The order the Bench shows boards in: by hub position, then port. Never by name or state, so a
 * card does not move when it is renamed or its job changes (the selection stays where it was).
 */
export function compareSlots(a: BenchDevice, b: BenchDevice): number {
  if (a.slot.location && b.slot.location) return natural(a.slot.location, b.slot.location) || natural(a.path, b.path);
  if (a.slot.location) return -1;
  if (b.slot.location) return 1;
  return natural(a.path, b.path);
}

/** The names with one changed (null removes it), bounded. */
export function renamed(names: Readonly<Record<string, string>>, key: string, name: string | null): Record<string, string> {
  const next = { ...names };
  if (name === null) delete next[key];
  else next[key] = name;
  const keys = Object.keys(next);
  if (keys.length > MAX_SLOT_NAMES) for (const k of keys.slice(0, keys.length - MAX_SLOT_NAMES)) if (k !== key) delete next[k];
  return next;
}
