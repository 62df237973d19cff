import { type Cluster, Redis, type RedisOptions } from 'ioredis';

/** An ioredis client: a single server (`Redis`, also through Sentinel) or a `Cluster`. */
export type RedisClient = Redis | Cluster;

/**
 * Where a shim connects: a `redis://` URL, ioredis options, or a client the caller made. A shim
 * never closes a client it was given; when it needs a connection of its own (a subscriber in
 * subscribe mode, a blocking pop) it `duplicate()`s the caller's client and closes the duplicate.
 */
export type RedisConnection = string | RedisOptions | RedisClient;

/** Address used when no connection is given. */
export const DEFAULT_REDIS_URL = 'redis://127.0.0.1:6379';

/** A client and whether the shim opened it (and so must close it). */
export interface ClientHandle {
  readonly client: RedisClient;
  readonly owned: boolean;
}

/** True when `value` is an ioredis client rather than connection options. */
export function isRedisClient(value: unknown): value is RedisClient {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as { duplicate?: unknown }).duplicate === 'function' &&
    typeof (value as { sendCommand?: unknown }).sendCommand === 'function'
  );
}

/** True when `client` is an ioredis `Cluster` rather than a single-server client. */
export function isCluster(client: RedisClient): client is Cluster {
  return (client as { isCluster?: boolean }).isCluster === true;
}

function create(
  connection: string | RedisOptions,
  overrides: RedisOptions,
  defaults: RedisOptions = {},
): Redis {
  const client =
    typeof connection === 'string'
      ? new Redis(connection, { ...defaults, ...overrides })
      : new Redis({ ...defaults, ...connection, ...overrides });
  // Without a listener ioredis prints every reconnect error; callers see failures through the
  // commands that fail, so the event itself carries nothing they need.
  client.on('error', ignore);
  return client;
}

function ignore(): void {}

/** The caller's client as is, or a new client the shim owns, with `defaults` under the caller's options. */
export function sharedClient(
  connection: RedisConnection | undefined,
  defaults: RedisOptions = {},
): ClientHandle {
  const target = connection ?? DEFAULT_REDIS_URL;
  if (isRedisClient(target)) return { client: target, owned: false };
  return { client: create(target, {}, defaults), owned: true };
}

/**
 * A connection of the shim's own: a duplicate of the caller's client (same address, credentials
 * and options, plus `overrides`) or a new client. The shim always owns it.
 */
export function dedicatedClient(
  connection: RedisConnection | undefined,
  overrides: RedisOptions = {},
): ClientHandle {
  const target = connection ?? DEFAULT_REDIS_URL;
  if (!isRedisClient(target)) return { client: create(target, overrides), owned: true };
  const client = isCluster(target)
    ? target.duplicate(undefined, {
        redisOptions: { ...target.options.redisOptions, ...overrides },
      })
    : target.duplicate(overrides);
  client.on('error', ignore);
  return { client, owned: true };
}

/** Closes `handle`'s client if the shim owns it. Pending commands fail; callers drain first. */
export function releaseClient(handle: ClientHandle): void {
  if (handle.owned) handle.client.disconnect();
}

/**
 * The nodes a cluster client was started with, as `{ host, port }`: ioredis takes them as
 * objects, ports or `redis://` URLs and normalises them only when it connects.
 */
export function startupNodes(cluster: Cluster): Array<{ host: string; port: number }> {
  const given = (cluster as unknown as { startupNodes: unknown[] }).startupNodes;
  return given.map((node) => {
    if (typeof node === 'number') return { host: '127.0.0.1', port: node };
    if (typeof node === 'string') {
      if (/^\d+$/.test(node)) return { host: '127.0.0.1', port: Number(node) };
      const url = new URL(node.includes('://') ? node : `redis://${node}`);
      return { host: url.hostname || '127.0.0.1', port: Number(url.port || 6379) };
    }
    const { host, port } = node as { host?: string; port?: number | string };
    return { host: host ?? '127.0.0.1', port: Number(port ?? 6379) };
  });
}

/** Host, port and db of a single-server client, or the first node of a cluster. */
export function addressOf(client: RedisClient): { host: string; port: number; db: number } {
  if (isCluster(client)) {
    const node = startupNodes(client)[0];
    return { host: node?.host ?? '127.0.0.1', port: node?.port ?? 6379, db: 0 };
  }
  const options = client.options;
  return {
    host: options.host ?? '127.0.0.1',
    port: Number(options.port ?? 6379),
    db: options.db ?? 0,
  };
}

// Commands whose arguments hold a password: HELLO … AUTH user pass, AUTH, MIGRATE … AUTH, CONFIG SET requirepass, ACL SETUSER.
const CREDENTIAL_COMMANDS = new Set(['auth', 'hello', 'migrate', 'config', 'acl']);

/**
 * `error` with the arguments of a command that carries credentials blanked out, changed in place.
 * ioredis attaches `command: { name, args }` to its errors, so a connection refused for a wrong
 * password would otherwise put that password in the `cause` of the shim's errors, and from there
 * in logs. Use on every client error before it becomes a `cause`.
 */
export function withoutCredentials<T>(error: T): T {
  const command = (error as { command?: { name?: unknown; args?: unknown } } | null | undefined)
    ?.command;
  if (
    typeof command === 'object' &&
    command !== null &&
    typeof command.name === 'string' &&
    CREDENTIAL_COMMANDS.has(command.name.toLowerCase()) &&
    Array.isArray(command.args)
  ) {
    command.args = command.args.map(() => '[redacted]');
  }
  return error;
}

/** Whether `error` is a reply from the server (a command error) rather than a connection failure. */
export function isReplyError(error: unknown): boolean {
  return error instanceof Error && error.name === 'ReplyError';
}
