import { createHash } from 'node:crypto';
import { existsSync, promises as fs } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** The Pi agent files (firmware/rpi) as the station uploads them, with one hash for the whole set. */
export interface AgentBundle {
  dir: string;
  files: Array<{ rel: string; data: Buffer; mode: number }>;
  /** SHA-256 over the sorted (path, content) pairs; written on the Pi as opt/gateway-iot/.bundle-sha256. */
  sha256: string;
}

const TOP_FILES = ['mqtt_client.py', 'install.sh', 'probe.sh', 'gateway-mqtt.service.in', 'config.example.json'];
const EXECUTABLE = new Set(['mqtt_client.py', 'install.sh', 'probe.sh']);

/** firmware/rpi next to the station's code: found by walking up from this module (source, dist or app). */
export function locateAgentDir(start = path.dirname(fileURLToPath(import.meta.url))): string {
  let dir = start;
  for (;;) {
    const candidate = path.join(dir, 'firmware', 'rpi');
    if (existsSync(path.join(candidate, 'install.sh'))) return candidate;
    const parent = path.dirname(dir);
    if (parent === dir) throw new Error(`the Pi agent files (firmware/rpi) were not found above ${start}; pass agentDir`);
    dir = parent;
  }
}

const cache = new Map<string, { stamp: string; bundle: AgentBundle }>();

async function listFiles(dir: string): Promise<string[]> {
  const pkg = (await fs.readdir(path.join(dir, 'gateway_agent'))).filter((f) => f.endsWith('.py')).map((f) => `gateway_agent/${f}`);
  return [...TOP_FILES, ...pkg].sort();
}

/** Reads the bundle once and keeps it until a file changes (size or mtime). */
export async function loadAgentBundle(dir = locateAgentDir()): Promise<AgentBundle> {
  const rels = await listFiles(dir);
  const stats = await Promise.all(rels.map((r) => fs.stat(path.join(dir, r))));
  const stamp = rels.map((r, i) => `${r}:${stats[i]!.size}:${stats[i]!.mtimeMs}`).join('|');
  const hit = cache.get(dir);
  if (hit && hit.stamp === stamp) return hit.bundle;
  const files = await Promise.all(
    rels.map(async (rel) => ({ rel, data: await fs.readFile(path.join(dir, rel)), mode: EXECUTABLE.has(rel) ? 0o755 : 0o644 })),
  );
  const h = createHash('sha256');
  for (const f of files) {
    h.update(f.rel).update('\0').update(String(f.data.length)).update('\0').update(f.data);
  }
  const bundle: AgentBundle = { dir, files, sha256: h.digest('hex') };
  cache.set(dir, { stamp, bundle });
  return bundle;
}
