/**
 * `tds-server serve` options of the broker side:
 *   --broker [--broker-port N] [--broker-host ADDR] [--broker-name NAME...]   embedded aedes broker
 *   --mqtt-url mqtts://HOST:PORT [--mqtt-identity NAME]                      the server's client for a Mosquitto
 *   --presence-timeout SECONDS, --telemetry-retention-days N
 * They become `startServer({ broker })`; the running services report `broker_url` on the listening line.
 */
import type { Command } from 'commander';
import { CliError } from '../cli/common.js';
import type { ServeExtension } from '../api/serve-extension.js';
import type { BrokerServicesOptions } from './services.js';

interface BrokerCliOptions {
  broker?: boolean;
  brokerPort?: number;
  brokerHost?: string;
  brokerName?: string[];
  mqttUrl?: string;
  mqttIdentity?: string;
  presenceTimeout?: number;
  telemetryRetentionDays?: number;
}

function intOption(name: string, min: number, max: number) {
  return (v: string): number => {
    if (!/^\d{1,9}$/.test(v) || Number(v) < min || Number(v) > max) throw new CliError(`${name} must be an integer from ${min} to ${max}, not '${v}'`);
    return Number(v);
  };
}

const collect = (value: string, previous: string[] = []): string[] => [...previous, value];

/** `mqtts://host:port` → host and port; plain mqtt:// is refused (the broker is mTLS only). */
export function parseMqttUrl(url: string): { host: string; port: number } {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new CliError(`--mqtt-url '${url}' is not a URL like mqtts://broker.example.com:8883`);
  }
  if (u.protocol !== 'mqtts:') throw new CliError(`--mqtt-url must use mqtts:// (mutual TLS), not ${u.protocol}//`);
  return { host: u.hostname.replace(/^\[|\]$/g, ''), port: u.port ? Number(u.port) : 8883 };
}

export function brokerOptionsFrom(o: BrokerCliOptions): BrokerServicesOptions {
  const out: BrokerServicesOptions = {};
  if (o.broker) out.embedded = { port: o.brokerPort ?? 8883, host: o.brokerHost ?? '127.0.0.1', altNames: o.brokerName ?? [] };
  else if (o.brokerPort !== undefined || o.brokerHost !== undefined) throw new CliError('--broker-port and --broker-host need --broker');
  if (o.mqttUrl) out.mqtt = { ...parseMqttUrl(o.mqttUrl), identity: o.mqttIdentity ?? 'main' };
  if (o.presenceTimeout !== undefined) out.presenceTimeoutMs = o.presenceTimeout * 1000;
  if (o.telemetryRetentionDays !== undefined) out.telemetryRetentionDays = o.telemetryRetentionDays;
  return out;
}

export const brokerServeExtension: ServeExtension = {
  name: 'broker',
  addOptions(serve: Command) {
    serve
      .option('--broker', 'also run the embedded MQTT broker (mTLS, same identities, CRL and topic rules as the Mosquitto kit)')
      .option('--broker-port <port>', 'port of the embedded broker (0 = any free port; default 8883)', intOption('--broker-port', 0, 65_535))
      .option('--broker-host <address>', 'address the embedded broker binds (default 127.0.0.1)')
      .option('--broker-name <name>', "extra host name or IP for the embedded broker's certificate (repeatable)", collect)
      .option('--mqtt-url <url>', "connect the server's MQTT client (presence, telemetry, renewal) to this broker, e.g. mqtts://mqtt.example.com:8883")
      .option('--mqtt-identity <name>', 'server identity for --mqtt-url, made by "tds-server identity create server --name NAME" (default main)')
      .option('--presence-timeout <seconds>', 'a gateway is offline after this long without any message (default 180)', intOption('--presence-timeout', 1, 86_400))
      .option('--telemetry-retention-days <days>', 'delete stored telemetry older than this (default 30)', intOption('--telemetry-retention-days', 1, 3_650));
  },
  serverOptions(options) {
    return { broker: brokerOptionsFrom(options as BrokerCliOptions) };
  },
  async start(ctx) {
    const b = ctx.server.broker;
    if (!b.embedded && !b.mqtt) return undefined;
    return {
      // startServer owns the services and stops them in close().
      stop: async () => undefined,
      info: {
        ...(b.embedded ? { broker_url: `mqtts://${b.embedded.host}:${b.embedded.port}` } : {}),
        ...(b.mqtt ? { mqtt_client: true } : {}),
      },
    };
  },
};
