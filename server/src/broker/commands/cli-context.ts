/** What the broker CLI commands share: the signing context plus the MQTT store and broker publication. */
import type { CaUnlock } from '../../ca/ca-backend.js';
import { openSigning, type SigningContext } from '../../cli/common.js';
import { MqttStore } from '../../mqtt/store.js';
import { loadBrokerConfig, type BrokerConfig } from '../broker-config.js';
import { cutoffStore } from '../cutoff-list.js';
import { storeBrokerState } from '../kit-builder.js';
import { BrokerPublisher, type PublishResult } from '../publisher.js';

export interface BrokerCliContext extends SigningContext {
  mqtt: MqttStore;
  kit: BrokerConfig | undefined;
  /**
   * Pushes the current CRL and ACL to the kit folder recorded by broker-kit (or `config`, e.g. the
   * one broker-kit just wrote) and reloads the broker, if it could load its files.
   */
  publishToBroker(config?: BrokerConfig): Promise<PublishResult | undefined>;
}

export async function openBrokerCli(dataDir: string, unlock: CaUnlock, database?: string): Promise<BrokerCliContext> {
  const ctx = await openSigning(dataDir, unlock, database);
  try {
    const store = new MqttStore(ctx.store.mqtt);
    const kit = await loadBrokerConfig(dataDir);
    return {
      ...ctx,
      mqtt: store,
      kit,
      async publishToBroker(config = kit) {
        if (!config?.publishDir) return undefined;
        const publisher = new BrokerPublisher({
          state: storeBrokerState({ issuance: ctx.service, crl: ctx.crl, store }),
          dir: config.publishDir,
          reload: config.reload,
          // No live-session control here: identities the server has still to cut stay denied.
          cutoffs: cutoffStore(dataDir),
        });
        return publisher.publish();
      },
    };
  } catch (err) {
    await ctx.close();
    throw err;
  }
}
