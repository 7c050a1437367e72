import { z } from 'zod';

/**
 * What the host tells a station core when it starts it: plain data (it crosses a process boundary),
 * validated by the core at that boundary. Secrets given by the operator travel here, over the
 * host↔core channel, never in a child's argv or environment.
 */
export const CoreConfigSchema = z.object({
  dataDir: z.string().min(1),
  shell: z.enum(['electron', 'web']),
  version: z.string(),
  /** The host's keychain that encrypts the secret store; null = a 0600 file, no keychain. */
  keychain: z.enum(['safeStorage', 'keyring']).nullable(),
  /** The bundled server's CA passphrase given by the operator (environment or a file outside the data folder). */
  caPassphrase: z.string().min(1).optional(),
  /** Whether this build runs the bundled issuance server (standalone mode). */
  bundledServer: z.boolean(),
  discovery: z.enum(['mdns', 'none']),
  /** A module exporting `createDeviceSource()`: serial devices from somewhere other than USB. */
  deviceSourceModule: z.string().min(1).optional(),
  /** Passed to that module's `createDeviceSource(options)` (plain data). */
  deviceSourceOptions: z.unknown().optional(),
  agentDir: z.string().min(1).optional(),
  concurrency: z.number().int().positive().optional(),
  keepFinishedJobs: z.number().int().min(0).optional(),
  jobOverrides: z.object({ bootLogMs: z.number().int().positive().optional() }).optional(),
  monitorFreshnessMs: z.number().int().positive().optional(),
  /** How often the core proves its event loop runs. */
  heartbeatMs: z.number().int().positive(),
  /** Set by the host when it restarts a core that stopped: why, for the jobs left interrupted. */
  restartReason: z.string().optional(),
});
export type CoreConfig = z.infer<typeof CoreConfigSchema>;
