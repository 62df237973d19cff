import type { NatsConnection } from '@nats-io/transport-node';

/** Most replicas a stream or bucket gets by default: JetStream's own maximum for a stream is 5, 3 is the usual quorum. */
const MAX_DEFAULT_REPLICAS = 3;

/**
 * The replicas a stream or bucket gets when its settings name none: as many as the cluster of
 * the connected server has servers, up to 3, and 1 on a single server. The cluster size is read
 * from the `connect_urls` the server gossips to its clients (every server of the cluster, itself
 * included; none on a server without a cluster).
 */
export function defaultReplicas(nc: NatsConnection): number {
  const urls = new Set(nc.info?.connect_urls ?? []);
  return Math.max(1, Math.min(MAX_DEFAULT_REPLICAS, urls.size));
}

/**
 * The servers a connection was given (as the caller wrote them), for store configs: a consumer
 * that reopens the store must reach it through any of them, not only the one connected now.
 * Falls back to the connected server when the client does not expose its options.
 */
export function configuredServers(nc: NatsConnection): string[] {
  const servers = (nc as { options?: { servers?: string | string[] } }).options?.servers;
  const list = servers === undefined ? [] : ([] as string[]).concat(servers);
  return list.length > 0 ? list : [nc.getServer()];
}
