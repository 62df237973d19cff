import { type Cluster, Redis } from 'ioredis';
import { startupNodes } from './connection.js';

/** CRC16/XMODEM, the checksum of Redis Cluster's key slots. */
function crc16(bytes: Buffer): number {
  let crc = 0;
  for (const byte of bytes) {
    crc ^= byte << 8;
    for (let bit = 0; bit < 8; bit++) {
      crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff;
    }
  }
  return crc;
}

/** The hash slot of `key` (0–16383), hash tags `{…}` included, as `CLUSTER KEYSLOT` computes it. */
export function keySlot(key: string): number {
  const bytes = Buffer.from(key, 'utf8');
  const open = bytes.indexOf(0x7b);
  if (open >= 0) {
    const close = bytes.indexOf(0x7d, open + 1);
    if (close > open + 1) return crc16(bytes.subarray(open + 1, close)) % 16_384;
  }
  return crc16(bytes) % 16_384;
}

/** Whether a `CLUSTER NODES` slot field (`5461`, `0-5460`, or a migration `[…]`) holds `slot`. */
function holds(field: string, slot: number): boolean {
  if (field.startsWith('[')) return false;
  const [start, end = start] = field.split('-');
  return slot >= Number(start) && slot <= Number(end);
}

/** A node of `CLUSTER NODES`, as one node sees it. */
interface NodeLine {
  readonly id: string;
  readonly host: string;
  readonly port: number;
  readonly flags: string;
  /** Id of its master, for a replica. */
  readonly master: string;
  readonly epoch: number;
  readonly connected: boolean;
  readonly slots: readonly string[];
}

function parseNodes(text: string, fallbackHost: string): NodeLine[] {
  const nodes: NodeLine[] = [];
  for (const line of text.split('\n')) {
    const fields = line.trim().split(' ');
    if (fields.length < 8) continue;
    const address = (fields[1] ?? '').split('@')[0]!;
    const colon = address.lastIndexOf(':');
    nodes.push({
      id: fields[0]!,
      host: address.slice(0, colon) || fallbackHost,
      port: Number(address.slice(colon + 1)),
      flags: fields[2]!,
      master: fields[3]!,
      epoch: Number(fields[6]),
      connected: fields[7] === 'connected',
      slots: fields.slice(8),
    });
  }
  return nodes;
}

/** `CLUSTER NODES` as `node` sees it, or `[]` when it does not answer within a second. */
async function viewOf(cluster: Cluster, node: { host: string; port: number }): Promise<NodeLine[]> {
  const connection = new Redis({
    ...cluster.options.redisOptions,
    host: node.host,
    port: node.port,
    lazyConnect: true,
    retryStrategy: () => null,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    connectTimeout: 1_000,
    commandTimeout: 1_000,
  });
  connection.on('error', () => {});
  try {
    await connection.connect();
    return parseNodes(String(await connection.call('CLUSTER', 'NODES')), node.host);
  } catch {
    return [];
  } finally {
    connection.disconnect();
  }
}

/** The nodes of one hash slot's shard: its master and its replicas that are up. */
export interface SlotShard {
  readonly master: { host: string; port: number };
  readonly replicas: ReadonlyArray<{ host: string; port: number }>;
}

/**
 * The shard that serves `key`'s hash slot now. Every node `cluster` knows of (or was started
 * with) is asked (`CLUSTER NODES`, 1 s each, in parallel) and the master claim with the highest
 * config epoch wins: right after a failover some nodes (and the cluster client's own slot map,
 * which ioredis refreshes only when a command is redirected) still name the dead master.
 * Replicas are those of the winner that the answering node sees connected and not failing.
 * @throws when no node names a master for the slot (the caller asks again later).
 */
export async function slotShard(cluster: Cluster, key: string): Promise<SlotShard> {
  const slot = keySlot(key);
  const known = new Map<string, { host: string; port: number }>();
  const found = cluster.nodes('all').map(({ options }) => ({
    host: options.host ?? '127.0.0.1',
    port: Number(options.port ?? 6379),
  }));
  for (const node of [...startupNodes(cluster), ...found]) {
    known.set(`${node.host}:${node.port}`, node);
  }
  const views = await Promise.all([...known.values()].map((node) => viewOf(cluster, node)));
  let best: { master: NodeLine; view: NodeLine[] } | undefined;
  for (const view of views) {
    for (const node of view) {
      if (!node.flags.includes('master') || node.flags.includes('fail')) continue;
      if (!node.slots.some((field) => holds(field, slot))) continue;
      if (best === undefined || node.epoch > best.master.epoch) best = { master: node, view };
    }
  }
  if (best === undefined) throw new Error(`CLUSTERDOWN no master serves slot ${slot}`);
  const { master, view } = best;
  const replicas = view
    .filter(
      (node) =>
        node.master === master.id &&
        node.flags.includes('slave') &&
        !node.flags.includes('fail') &&
        node.connected,
    )
    .map(({ host, port }) => ({ host, port }));
  return { master: { host: master.host, port: master.port }, replicas };
}

/** The master that serves `key`'s hash slot now (see {@link slotShard}). */
export async function slotMaster(
  cluster: Cluster,
  key: string,
): Promise<{ host: string; port: number }> {
  return (await slotShard(cluster, key)).master;
}
