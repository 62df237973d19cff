import { pause } from '@proxystream/protocols/kit';
import { type Cluster, Redis } from 'ioredis';
import { slotShard } from './cluster-slots.js';

/**
 * Sends commands for a key straight to the master of its hash slot, on connections of its own,
 * in call order. ioredis's `Cluster` sends a command that a dead node cut off again 100 ms later,
 * after the commands sent since: fine for stored data, not for pub/sub, whose subscribers see
 * the order of arrival. Here a command the node cut off fails at once (the caller counts it as
 * lost), and the commands after it wait, in order, until the slot's new master answers.
 */
export class ShardRouter {
  readonly #cluster: Cluster;
  readonly #budgetMs: number;
  /** Per key: the connection to its slot's master, once found. One promise, so calls stay in order. */
  readonly #routes = new Map<string, Promise<Redis>>();
  readonly #connections = new Map<string, Redis>();
  #closed = false;

  /** `cluster` locates the slots; `budgetMs` bounds the wait for a new master. */
  constructor(cluster: Cluster, budgetMs: number) {
    this.#cluster = cluster;
    this.#budgetMs = budgetMs;
  }

  /** Runs `command` on the connection to the master of `key`'s slot, after the calls made before. */
  send<T>(key: string, command: (connection: Redis) => Promise<T>): Promise<T> {
    let route = this.#routes.get(key);
    if (route === undefined) {
      route = this.#find(key);
      this.#routes.set(key, route);
      // A route that could not be found is looked for again by the next call.
      route.catch(() => {
        if (this.#routes.get(key) === route) this.#routes.delete(key);
      });
    }
    const current = route;
    return current.then(command).catch((error: unknown) => {
      if (this.#routes.get(key) === current) this.#routes.delete(key);
      throw error;
    });
  }

  /** Closes every connection; later calls fail. */
  close(): void {
    this.#closed = true;
    for (const connection of this.#connections.values()) connection.disconnect();
    this.#connections.clear();
  }

  async #find(key: string): Promise<Redis> {
    const deadline = performance.now() + this.#budgetMs;
    for (let attempt = 1; ; attempt++) {
      if (this.#closed) throw new Error('Connection is closed (publisher closed)');
      try {
        const { host, port } = (await slotShard(this.#cluster, key)).master;
        const connection = this.#connection(host, port);
        try {
          await connection.ping();
        } catch (error) {
          // Never connected, or gone: the next attempt opens a new one.
          if (connection.status === 'end') this.#forget(connection);
          throw error;
        }
        return connection;
      } catch (error) {
        if (performance.now() >= deadline) {
          // Not a failover error any more: the caller reports it instead of counting a loss.
          throw new Error(
            `no master of the slot of "${key}" answered within ${this.#budgetMs} ms: ${String(error)}`,
            { cause: error },
          );
        }
        await pause(Math.min(25 * attempt, 250));
      }
    }
  }

  #forget(connection: Redis): void {
    const address = `${connection.options.host}:${connection.options.port}`;
    if (this.#connections.get(address) === connection) this.#connections.delete(address);
  }

  #connection(host: string, port: number): Redis {
    const address = `${host}:${port}`;
    const known = this.#connections.get(address);
    if (known !== undefined) return known;
    const connection = new Redis({
      ...this.#cluster.options.redisOptions,
      host,
      port,
      // A broken connection is dropped: the slot may have another master by now.
      retryStrategy: () => null,
      maxRetriesPerRequest: 0,
      autoResendUnfulfilledCommands: false,
    });
    connection.on('error', () => {});
    connection.once('close', () => {
      this.#forget(connection);
      connection.disconnect();
      for (const [key, route] of this.#routes) {
        route.then(
          (routed) => {
            if (routed === connection && this.#routes.get(key) === route) this.#routes.delete(key);
          },
          () => {},
        );
      }
    });
    this.#connections.set(address, connection);
    return connection;
  }
}
