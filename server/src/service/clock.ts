/** ISO-8601 UTC with whole seconds, the timestamp format on the wire and in the store. */
export function isoSeconds(d: Date = new Date()): string {
  return d.toISOString().replace(/\.\d{3}Z$/, 'Z');
}
