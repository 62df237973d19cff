import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { brokerAddress } from '@proxystream/protocols/kit';
import { NATS_CLUSTER_BROKER } from '@proxystream/shim-nats/testing';
import { beforeAll } from 'vitest';

/** Where the cluster tests run: `NATS_CLUSTER_URLS`, else the local cluster on 4250–4252. */
export const env = process.env;

/** The cluster's servers, in the order the descriptors try them. */
export function clusterServers(): string[] {
  return brokerAddress(NATS_CLUSTER_BROKER, env).split(',');
}

/**
 * Fails the file (never skips it) unless the NATS cluster serves JetStream with at least 3
 * servers: start it with `bash scripts/clusters.sh start nats`, or point `NATS_CLUSTER_URLS` at one.
 */
export function requireCluster(): void {
  beforeAll(async () => {
    try {
      const nc = await connect({ servers: clusterServers(), timeout: 5_000 });
      try {
        const urls = nc.info?.connect_urls ?? [];
        if (urls.length < 3)
          throw new Error(`the server knows ${urls.length} cluster server(s), not 3`);
        await (await jetstreamManager(nc, { timeout: 10_000 })).getAccountInfo();
      } finally {
        await nc.close();
      }
    } catch (error) {
      throw new Error(
        `the NATS cluster at ${NATS_CLUSTER_BROKER.variable}=${env.NATS_CLUSTER_URLS ?? '(local 4250–4252)'} does not serve: start it with \`bash scripts/clusters.sh start nats\``,
        { cause: error },
      );
    }
  }, 20_000);
}
