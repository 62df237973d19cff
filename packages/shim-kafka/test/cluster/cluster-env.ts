import { Kafka } from 'kafkajs';
import { beforeAll } from 'vitest';
import { quietLogCreator } from '../../src/index.js';
import { kafkaClusterBroker, kafkaClusterDescriptor } from '../../src/testing.js';

/** Where the cluster tests run: `KAFKA_CLUSTER_BROKERS`, else the local cluster on 9192–9194. */
export const env = process.env;

/** The cluster's brokers, as the cluster descriptor reads them. */
export const brokers = (env[kafkaClusterBroker.variable] || kafkaClusterBroker.defaultAddress)
  .split(',')
  .map((broker) => broker.trim())
  .filter((broker) => broker !== '');

/** Connection settings of the cluster tests. */
export const connection = { brokers };

/**
 * Fails the file (never skips it) unless at least 3 brokers of the cluster answer with a
 * controller: start it with `bash scripts/clusters.sh start kafka`, or set `KAFKA_CLUSTER_BROKERS`.
 */
export function requireCluster(): void {
  beforeAll(async () => {
    const admin = new Kafka({
      brokers,
      clientId: 'proxystream-probe',
      connectionTimeout: 2_000,
      retry: { retries: 0 },
      logCreator: quietLogCreator,
    }).admin();
    try {
      await admin.connect();
      const cluster = await admin.describeCluster();
      if (cluster.brokers.length < 3 || cluster.controller === null) {
        throw new Error(`${cluster.brokers.length} brokers, controller ${cluster.controller}`);
      }
    } catch (error) {
      throw new Error(
        `the Kafka cluster at ${kafkaClusterDescriptor.broker?.variable}=${brokers.join(',')} does not serve 3 brokers: start it with \`bash scripts/clusters.sh start kafka\``,
        { cause: error },
      );
    } finally {
      await admin.disconnect();
    }
  }, 20_000);
}
