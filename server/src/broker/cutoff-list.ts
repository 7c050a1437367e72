/**
 * `<data>/broker-cutoff.json`: identities (CNs) with a live Mosquitto session that the server could
 * not disconnect yet after revoking one of their certificates. The ACL denies them everything until
 * a later publication disconnects them; the file keeps that true for the CLI's publications and
 * across a server restart.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';
import { classifyCommonName } from '../contract/index.js';
import { writeFileAtomic } from '../util/atomic-file.js';
import type { CutoffStore } from './publisher.js';

export const CUTOFF_FILE = 'broker-cutoff.json';

const schema = z.object({ format: z.literal('tds-broker-cutoff/1'), identities: z.array(z.string().max(100)).max(100_000) });

export function cutoffStore(dataDir: string): CutoffStore {
  const file = path.join(dataDir, CUTOFF_FILE);
  return {
    async load() {
      let text: string;
      try {
        text = await readFile(file, 'utf8');
      } catch {
        return [];
      }
      let json: unknown;
      try {
        json = JSON.parse(text);
      } catch {
        json = undefined;
      }
      const r = schema.safeParse(json);
      if (!r.success) throw new Error(`${file} is invalid (${r.error?.issues[0]?.message ?? 'not JSON'}); delete it and restart the broker to drop every session`);
      return r.data.identities.filter((cn) => classifyCommonName(cn).kind !== 'unknown');
    },
    async save(cns) {
      const body = { format: 'tds-broker-cutoff/1', identities: [...cns].sort() };
      await writeFileAtomic(file, JSON.stringify(body, null, 2) + '\n', { mode: 0o600 });
    },
  };
}
