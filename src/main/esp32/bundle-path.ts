import { stat } from 'node:fs/promises';
import path from 'node:path';
import { JobFailure } from '../jobs/job-failure.js';
import { loadBundle, type FirmwareBundle } from './bundle.js';

/** A profile's bundle path, "/x/bundle" (a folder with manifest.json) or "/x/bundle/manifest.json", as the manifest path. */
export async function manifestPath(p: string): Promise<string> {
  try {
    return (await stat(p)).isDirectory() ? path.join(p, 'manifest.json') : p;
  } catch {
    throw new JobFailure('BUNDLE_INVALID', `The firmware bundle ${p} does not exist.`, { hint: 'Check the path in the profile (a folder with manifest.json, or the manifest itself).' });
  }
}

/** The bundle a profile names (folder or manifest). */
export async function loadProfileBundle(p: string): Promise<FirmwareBundle> {
  return loadBundle(await manifestPath(p));
}
