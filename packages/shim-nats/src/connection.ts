import {
  ClosedConnectionError,
  connect,
  type NatsConnection,
  type NodeConnectionOptions,
} from '@nats-io/transport-node';
import { BrokerError, ClosedError, ProxyStreamError } from '@proxystream/protocols';
import { redactUrls, throwIfAborted, withoutUserInfo } from '@proxystream/protocols/kit';

/** The server's default `max_payload`: 1 MiB. */
export const DEFAULT_MAX_PAYLOAD = 1024 * 1024;

/** The server a shim connects to when `connection` is not given or names no `servers`. */
export const DEFAULT_SERVERS = '127.0.0.1:4222';

/**
 * How a shim opens a connection of its own: the servers, and any other option of `connect()`
 * from `@nats-io/transport-node` (name, credentials, TLS…). The shim's defaults: reconnect for
 * ever (`maxReconnectAttempts: -1`) every 500 ms; `servers` defaults to {@link DEFAULT_SERVERS}.
 */
export type NatsConnectionSettings = { servers?: string | string[] } & Omit<
  NodeConnectionOptions,
  'servers'
>;

/**
 * Where a shim gets its NATS connection (every publisher, subscriber, store and `ensureStream`).
 *
 * @example
 * ```ts
 * // The shim opens a connection of its own and closes it on close():
 * await NatsPublisher.create({ connection: { servers: 'nats://127.0.0.1:4222', token } });
 * // A connection you made: the shim never closes it.
 * await NatsPublisher.create({ connection: nc });
 * ```
 */
export interface NatsConnectionOptions {
  /**
   * A `NatsConnection` the caller made and keeps ownership of (the shim never closes it), or
   * {@link NatsConnectionSettings} for a connection the shim opens and closes on `close()`.
   * Default: settings `{ servers: '127.0.0.1:4222' }`.
   */
  connection?: NatsConnection | NatsConnectionSettings;
}

/** A connection and whether the shim opened it (and so must close it). */
export interface HeldConnection {
  readonly nc: NatsConnection;
  readonly owned: boolean;
}

/** Whether `connection` is a client connection rather than settings for one. */
export function isNatsConnection(
  connection: NatsConnection | NatsConnectionSettings | undefined,
): connection is NatsConnection {
  const candidate = connection as Partial<NatsConnection> | undefined;
  return typeof candidate?.publish === 'function' && typeof candidate.isClosed === 'function';
}

/** The servers settings name, as a list (the default when they name none). */
export function serversOf(settings: NatsConnectionSettings | undefined): string[] {
  return ([] as string[]).concat(settings?.servers ?? DEFAULT_SERVERS);
}

/**
 * Uses the caller's connection or opens one. The pre-aborted rule: an aborted `signal` rejects
 * with `AbortedError` before anything is opened, and a connection opened meanwhile is closed.
 * @throws {@link BrokerError} when the server cannot be reached.
 */
export async function openConnection(
  connection: NatsConnection | NatsConnectionSettings | undefined,
  signal?: AbortSignal,
): Promise<HeldConnection> {
  throwIfAborted(signal);
  if (isNatsConnection(connection)) {
    if (connection.isClosed()) throw new ClosedError('the given NATS connection');
    return { nc: connection, owned: false };
  }
  const servers = serversOf(connection);
  let nc: NatsConnection;
  try {
    nc = await connect({
      maxReconnectAttempts: -1,
      reconnectTimeWait: 500,
      ...connection,
      servers,
    });
  } catch (error) {
    throw new BrokerError(
      `could not connect to NATS at ${servers.map(withoutUserInfo).join(',')}: ${messageOf(error)}; is nats-server running?`,
      { cause: error },
    );
  }
  if (signal?.aborted) {
    await nc.close().catch(() => undefined);
    throwIfAborted(signal);
  }
  return { nc, owned: true };
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

/** The message of any thrown value, without the credentials of URLs in it. */
export function messageOf(error: unknown): string {
  return redactUrls(error instanceof Error ? error.message : String(error));
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
