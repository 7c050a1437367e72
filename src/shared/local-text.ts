/**
 * A sentence the renderer shows in the operator's language: `key` names it in the renderer's
 * dictionaries (`namespace:path`, e.g. `pi:detail.connected`), `params` fill its placeholders. The
 * English sentence always travels beside it (logs, the CLI, and a renderer that does not know the key).
 */
export interface LocalText {
  key: string;
  params?: Record<string, string | number>;
}

/** A `LocalText` for `key` (`namespace:path`) with `params`. */
export function localText(key: string, params?: Record<string, string | number>): LocalText {
  return params ? { key, params } : { key };
}
