import { z } from 'zod';
import { V, zIntRange, zNumberRange } from './validation.js';

/**
 * What a profile may say about the Raspberry Pi agent's `config.json` (firmware/rpi): its Modbus
 * section, verbatim in the agent's own field names (the same rules as the agent's
 * `gateway_agent/config.py`, so a profile that passes here never makes the agent refuse to start),
 * and a few agent settings. Shared by the headless profile file and the Settings screen.
 */

/** Debian's interpreter, with the python3-* packages the agent needs. */
export const DEFAULT_PI_PYTHON = '/usr/bin/python3';

export const MODBUS_PARITIES = ['N', 'E', 'O'] as const;
export const MODBUS_FUNCTIONS = ['holding', 'input'] as const;

/** An absolute path on the Pi (no spaces or shell characters: it ends up in a systemd unit). */
export const zRemotePath = z
  .string()
  .trim()
  .min(1, V.required)
  .max(255, V.tooLong)
  .refine((s) => /^\/[A-Za-z0-9._+/-]*$/.test(s), V.remotePath);

/** One reading: a register of a Modbus RTU slave, scaled, with its unit and interval. */
export const PiModbusSlaveSchema = z.object({
  slave: zIntRange(1, 247),
  register: zIntRange(0, 65535),
  unit: z.string().trim().min(1, V.required).max(16, V.tooLong),
  scale: zNumberRange(-1e9, 1e9).default(1),
  interval: zNumberRange(0.1, 86400).default(60),
  function: z.enum(MODBUS_FUNCTIONS, { error: V.choice }).default('holding'),
  /** 1 = 16-bit, 2 = 32-bit (high word first). */
  count: zIntRange(1, 2).default(1),
  signed: z.boolean({ error: V.choice }).default(false),
});

/** The agent's `modbus` section: the RS-485 adapter's serial settings and the readings. */
export const PiModbusSchema = z.object({
  port: zRemotePath,
  baudrate: zIntRange(300, 4_000_000).default(9600),
  parity: z.enum(MODBUS_PARITIES, { error: V.choice }).default('N'),
  bytesize: zIntRange(5, 8).default(8),
  stopbits: zIntRange(1, 2).default(1),
  timeout_s: zNumberRange(0.05, 30).default(1),
  slaves: z.array(PiModbusSlaveSchema).max(64, V.tooLong).default([]),
});
export type PiModbus = z.output<typeof PiModbusSchema>;

/** Agent settings the Settings screen edits (mapped to the agent's config.json names by `agentConfigFor`). */
export const PiAgentSettingsSchema = z.object({
  /** MQTT keepalive, s: how fast the broker notices a dead Pi (Last Will). */
  keepaliveSec: zIntRange(5, 3600).default(30),
  /** Readings kept on disk while the broker is unreachable. */
  bufferMaxMessages: zIntRange(10, 10_000_000).default(10_000),
  /** The agent asks for a new certificate this many days before expiry (0 = never by itself). */
  renewBeforeDays: zIntRange(0, 3650).default(30),
});
export type PiAgentSettings = z.output<typeof PiAgentSettingsSchema>;

/** `config.json` fields (the agent's names) for the Settings screen's agent settings. */
export function agentConfigFor(agent: PiAgentSettings): Record<string, unknown> {
  return {
    mqtt: { keepalive: agent.keepaliveSec },
    buffer: { max_messages: agent.bufferMaxMessages },
    renewal: { renew_before_days: agent.renewBeforeDays },
  };
}
