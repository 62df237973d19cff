import { connect } from 'node:net';
import {
  type BrokerRequirement,
  brokerAddress,
  type ShimEnvironment,
} from '@proxystream/protocols/kit';

/** Ports of the URL schemes the brokers' variables use, where an address leaves the port out. */
const DEFAULT_PORTS: Readonly<Record<string, number>> = {
  'redis:': 6379,
  'rediss:': 6379,
  'nats:': 4222,
  'tls:': 4222,
};

/** How long a node may take to accept a TCP connection before it counts as down. */
const CONNECT_TIMEOUT_MS = 2000;

/** `host` and `port` of one address (`scheme://host:port` or `host:port`), if it names a port. */
function endpointOf(address: string): { host: string; port: number } | undefined {
  try {
    const url = new URL(address.includes('://') ? address : `tcp://${address}`);
    const port = url.port === '' ? DEFAULT_PORTS[url.protocol] : Number(url.port);
    if (port === undefined) return undefined;
    return { host: url.hostname.replace(/^\[(.*)\]$/, '$1'), port };
  } catch {
    return undefined;
  }
}

/** Whether a TCP connection to `host:port` opens within {@link CONNECT_TIMEOUT_MS}. */
function accepts(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host, port, timeout: CONNECT_TIMEOUT_MS });
    const done = (open: boolean) => {
      socket.destroy();
      resolve(open);
    };
    socket.once('connect', () => done(true));
    socket.once('timeout', () => done(false));
    socket.once('error', () => done(false));
  });
}

/**
 * Why the broker `broker` of `env` cannot be benchmarked, or `undefined` when every node of its
 * address (a comma-separated list for a cluster) accepts TCP connections. A node that does not
 * makes the whole broker unavailable: a cluster short of a node is not the cluster the rows name.
 * Addresses without a port the bench can tell are assumed to answer. `start` is the command that
 * starts the local broker, for the reason's hint.
 */
export async function brokerUnreachable(
  broker: BrokerRequirement,
  env: ShimEnvironment,
  start: string,
): Promise<string | undefined> {
  const address = brokerAddress(broker, env);
  const entries = address
    .split(',')
    .map((entry) => entry.trim())
    .filter((entry) => entry !== '');
  const down: string[] = [];
  await Promise.all(
    entries.map(async (entry) => {
      const endpoint = endpointOf(entry);
      if (endpoint !== undefined && !(await accepts(endpoint.host, endpoint.port))) {
        down.push(`${endpoint.host}:${endpoint.port}`);
      }
    }),
  );
  if (down.length === 0) return undefined;
  const where =
    env[broker.variable] === undefined || env[broker.variable] === ''
      ? `${broker.variable} unset, the local default; \`${start}\` starts it`
      : `of ${broker.variable}`;
  return `${down.sort().join(', ')} ${down.length === 1 ? 'accepts' : 'accept'} no connection (${where})`;
}
