import {
  ClosedConnectionError,
  connect,
  type NatsConnection,
  type NodeConnectionOptions,
} from '@nats-io/transport-node';
import { BrokerError, ClosedError, ProxyStreamError } from '@proxystream/protocols';

/** The server's default `max_payload`: 1 MiB. */
export const DEFAULT_MAX_PAYLOAD = 1024 * 1024;

/** The server a shim connects to when neither `connection` nor `servers` is given. */
export const DEFAULT_SERVERS = '127.0.0.1:4222';

/**
 * Where a shim gets its NATS connection: a connection the caller made (the shim never closes it),
 * or the servers to connect to (the shim opens a connection of its own and closes it on `close()`).
 */
export interface NatsConnectionOptions {
  /** A connection the caller made and keeps ownership of; `servers` and `connectOptions` are then ignored. */
  connection?: NatsConnection;
  /** Server URLs or `host:port` pairs. Default {@link DEFAULT_SERVERS}. */
  servers?: string | string[];
  /**
   * Further options of `connect()` from `@nats-io/transport-node` (name, credentials, TLS…).
   * The shim's defaults: reconnect forever (`maxReconnectAttempts: -1`) every 500 ms.
   */
  connectOptions?: Omit<NodeConnectionOptions, 'servers'>;
}

/** A connection and whether the shim opened it (and so must close it). */
export interface HeldConnection {
  readonly nc: NatsConnection;
  readonly owned: boolean;
}

/** Uses the caller's connection or opens one. @throws {@link BrokerError} when the server cannot be reached. */
export async function openConnection(options: NatsConnectionOptions): Promise<HeldConnection> {
  if (options.connection !== undefined) {
    if (options.connection.isClosed()) throw new ClosedError('the given NATS connection');
    return { nc: options.connection, owned: false };
  }
  const servers = options.servers ?? DEFAULT_SERVERS;
  try {
    const nc = await connect({
      maxReconnectAttempts: -1,
      reconnectTimeWait: 500,
      ...options.connectOptions,
      servers,
    });
    return { nc, owned: true };
  } catch (error) {
    throw new BrokerError(
      `could not connect to NATS at ${withoutUserInfo(servers).join(',')}: ${messageOf(error)}; is nats-server running?`,
      { cause: error },
    );
  }
}

/** Closes `held.nc` when the shim opened it, after flushing what was written; never throws. */
export async function releaseConnection(held: HeldConnection): Promise<void> {
  if (held.nc.isClosed()) return;
  try {
    await held.nc.flush();
  } catch {
    // Closed or broken: nothing left to flush.
  }
  if (held.owned) await held.nc.close().catch(() => undefined);
}

/** The largest payload (headers included) the connected server accepts. */
export function maxPayloadOf(nc: NatsConnection): number {
  return nc.info?.max_payload ?? DEFAULT_MAX_PAYLOAD;
}

/**
 * `servers` with any `user:password@` (or `token@`) removed from the URLs, for messages and store
 * configs: a credential in a server URL must not reach a log or the wire.
 */
export function withoutUserInfo(servers: string | readonly string[]): string[] {
  return ([] as string[])
    .concat(servers)
    .map((server) => server.replace(/^((?:[a-z][a-z0-9+.-]*:\/\/)?)[^/@]*@/i, '$1'));
}

/** The message of any thrown value. */
export function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/**
 * Turns a client error into the shared error classes: a proxystream error passes through, a
 * closed connection becomes {@link ClosedError}, anything else {@link BrokerError} with `cause`.
 */
export function toProxyStreamError(error: unknown, what: string): ProxyStreamError {
  if (error instanceof ProxyStreamError) return error;
  if (error instanceof ClosedConnectionError) {
    return new ClosedError(`the NATS connection used for ${what}`, { cause: error });
  }
  return new BrokerError(`${what} failed: ${messageOf(error)}`, { cause: error });
}
