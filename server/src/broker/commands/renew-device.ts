/**
 * `tds-server renew-device --mac MAC`: sends `cert_renew` to a device over MQTT with the server's
 * identity, so the device makes a new key and renews itself (mqtt/renewal.ts). The running server (with
 * --broker or --mqtt-url) answers the device's CSR and revokes the old certificate after its ack.
 * The same request over the API: POST gateways/{id}/renew/ {"ask_device": true}.
 */
import type { Command } from 'commander';
import { normaliseMac, serviceCommonName } from '../../contract/index.js';
import { addDataOption, addJsonOption, CliError, dataDirFrom, output } from '../../cli/common.js';
import type { CommandModule } from '../../cli/commands/types.js';
import { loadBrokerConfig } from '../broker-config.js';
import { identityDir, readIdentity } from '../identity-files.js';
import { parseMqttUrl } from '../serve-extension.js';

export const renewDeviceCommand: CommandModule = {
  register(program: Command) {
    const cmd = program
      .command('renew-device')
      .description('ask a device over MQTT (cert_renew) to make a new key and renew its certificate; needs a running server with an MQTT client')
      .requiredOption('--mac <mac>', 'device MAC address')
      .option('--mqtt-url <url>', 'broker, e.g. mqtts://mqtt.example.com:8883 (default: host and port recorded by broker-kit)')
      // Not the running server's own identity: the broker gives both the same client id and would
      // disconnect the server while this command is connected.
      .option('--mqtt-identity <name>', 'a server identity for operator commands (tds-server-<name>, in <data>/identities)', 'cli')
      .option('--servername <name>', "broker certificate name to verify (default: the URL's host)");
    addDataOption(cmd);
    addJsonOption(cmd);
    cmd.action(async (opts: { data?: string; json?: boolean; mac: string; mqttUrl?: string; mqttIdentity: string; servername?: string }) => {
      let mac: string;
      try {
        mac = normaliseMac(opts.mac);
      } catch (err) {
        throw new CliError((err as Error).message);
      }
      const dataDir = dataDirFrom(opts);
      const kit = await loadBrokerConfig(dataDir);
      const target = opts.mqttUrl ? parseMqttUrl(opts.mqttUrl) : kit ? { host: kit.host, port: kit.port } : undefined;
      if (!target) throw new CliError('no broker address: pass --mqtt-url mqtts://HOST:PORT (or build a kit with broker-kit first)');
      const cn = serviceCommonName('server', opts.mqttIdentity);
      const id = await readIdentity(identityDir(dataDir, cn));
      if (!id) {
        throw new CliError(
          `no identity ${cn} in ${identityDir(dataDir, cn)}: run "tds-server identity create server --name ${opts.mqttIdentity}" (use a different name than the running server's)`,
        );
      }
      // Loaded here, not at start-up: every other tds-server command (serve too) can do without mqtt.js.
      const [{ ServiceMqttClient }, { RenewalProtocol }] = await Promise.all([import('../../mqtt/service-client.js'), import('../../mqtt/renewal.js')]);
      const client = new ServiceMqttClient({
        host: target.host,
        port: target.port,
        servername: opts.servername ?? target.host,
        caPem: id.caPem,
        certPem: id.certPem,
        keyPem: id.keyPem,
        clientId: cn,
        subscriptions: [],
      });
      try {
        await new Promise<void>((resolve, reject) => {
          const timer = setTimeout(() => reject(new CliError(`could not connect to mqtts://${target.host}:${target.port} as ${cn} within 10 s`)), 10_000);
          client.once('connected', () => {
            clearTimeout(timer);
            resolve();
          });
          client.start();
        });
        const protocol = new RenewalProtocol({
          backend: { issueRenewal: () => Promise.reject(new Error('unused')), confirmRenewal: () => Promise.reject(new Error('unused')) },
          publish: (topic, payload) => client.publish(topic, payload, { qos: 1 }),
        });
        const commandId = await protocol.ask(mac);
        output(opts.json, { mac_address: mac, status: 'requested', command_id: commandId }, `cert_renew sent to ${mac} (command ${commandId})`);
      } finally {
        await client.stop();
      }
    });
  },
};
