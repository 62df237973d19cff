import { createHash } from 'node:crypto';
import { type JetStreamManager, jetstreamManager, type StreamConfig } from '@nats-io/jetstream';
import { type NatsConnection, nanos } from '@nats-io/transport-node';
import { BrokerError } from '@proxystream/protocols';
import { oneOf, positiveInteger } from '@proxystream/protocols/kit';
import { defaultReplicas } from './cluster-size.js';
import {
  type NatsConnectionOptions,
  openConnection,
  releaseConnection,
  toProxyStreamError,
} from './connection.js';
import { assertValidName } from './topic.js';

/** Name of the stream the JetStream shims use by default. */
export const DEFAULT_STREAM = 'PROXYSTREAM';

/** Subject prefix of the default stream: topic `t` is stored under `proxystream.t`. */
export const DEFAULT_SUBJECT_PREFIX = 'proxystream';

/** How a stream keeps messages (JetStream's retention policy). */
export type StreamRetention = 'limits' | 'interest' | 'workqueue';

/** Settings of a stream created by {@link ensureStream} (or by a shim with `createStream`). */
export interface StreamSettings {
  /**
   * `'limits'` (default) keeps messages until a limit below removes them, so every group reads
   * the whole topic. `'interest'` drops a message once every existing consumer acknowledged it
   * (a group created later misses it); `'workqueue'` drops it at the first acknowledgement and
   * allows one group per topic.
   */
  retention?: StreamRetention;
  /** `'file'` (default) survives a server restart; `'memory'` is faster and does not. */
  storage?: 'file' | 'memory';
  /** Oldest messages are removed beyond this many bytes. Default: no limit. */
  maxBytes?: number;
  /** Oldest messages are removed beyond this many messages. Default: no limit. */
  maxMessages?: number;
  /** Messages older than this are removed, in ms. Default: kept forever. */
  maxAgeMs?: number;
  /** Largest message the stream accepts, in bytes. Default: the server's `max_payload`. */
  maxMessageSize?: number;
  /** How long the server remembers message ids to drop retried publishes, in ms. Default 120 000. */
  duplicateWindowMs?: number;
  /**
   * Copies kept in a cluster, each on another server: the stream survives the death of a
   * minority of them. Default: the number of servers of the connected server's cluster, up to
   * 3 (1 on a single server).
   */
  replicas?: number;
}

/**
 * Where the JetStream shims keep topics: one stream captures `${subjectPrefix}.>`, and topic `t`
 * is the subject `${subjectPrefix}.t`. A group is a durable consumer filtered on that subject.
 */
export interface JetStreamStreamOptions {
  /** Stream name. Default {@link DEFAULT_STREAM}. */
  stream?: string;
  /** Subject prefix (may contain dots). Default {@link DEFAULT_SUBJECT_PREFIX}. */
  subjectPrefix?: string;
  /**
   * Create the stream on first use when it does not exist, with these settings (`true`: the
   * defaults of {@link StreamSettings}). Default `false`: create it with {@link ensureStream}.
   */
  createStream?: boolean | StreamSettings;
}

/** Options of {@link ensureStream}. */
export interface EnsureStreamOptions extends NatsConnectionOptions, StreamSettings {
  /** Stream name. Default {@link DEFAULT_STREAM}. */
  name?: string;
  /** Subject prefix the stream captures (`${subjectPrefix}.>`). Default {@link DEFAULT_SUBJECT_PREFIX}. */
  subjectPrefix?: string;
}

/** What {@link ensureStream} found or made. */
export interface StreamDescription {
  readonly name: string;
  readonly subjects: readonly string[];
  /** Whether this call created the stream. */
  readonly created: boolean;
}

/** A positive integer option that has no default (the server's applies). */
function optionalPositive(name: string, value: number | undefined): number | undefined {
  return value === undefined ? undefined : positiveInteger(value, name, 1);
}

const RETENTIONS = ['limits', 'interest', 'workqueue'] as const;
const STORAGES = ['file', 'memory'] as const;

function streamConfig(
  name: string,
  prefix: string,
  settings: StreamSettings,
  fallbackReplicas = 1,
): Partial<StreamConfig> & { name: string } {
  const config: Partial<StreamConfig> & { name: string } = { name, subjects: [`${prefix}.>`] };
  const retention = oneOf(settings.retention, 'retention', RETENTIONS, 'limits');
  config.retention = retention as StreamConfig['retention'];
  const storage = oneOf(settings.storage, 'storage', STORAGES, 'file');
  config.storage = storage as StreamConfig['storage'];
  const maxBytes = optionalPositive('maxBytes', settings.maxBytes);
  if (maxBytes !== undefined) config.max_bytes = maxBytes;
  const maxMessages = optionalPositive('maxMessages', settings.maxMessages);
  if (maxMessages !== undefined) config.max_msgs = maxMessages;
  const maxAge = optionalPositive('maxAgeMs', settings.maxAgeMs);
  if (maxAge !== undefined) config.max_age = nanos(maxAge);
  const maxSize = optionalPositive('maxMessageSize', settings.maxMessageSize);
  if (maxSize !== undefined) config.max_msg_size = maxSize;
  const window = optionalPositive('duplicateWindowMs', settings.duplicateWindowMs);
  if (window !== undefined) config.duplicate_window = nanos(window);
  const replicas = optionalPositive('replicas', settings.replicas);
  config.num_replicas = replicas ?? fallbackReplicas;
  return config;
}

/** Creates the stream if missing; checks that an existing one captures the prefix. */
export async function ensureStreamOn(
  jsm: JetStreamManager,
  name: string,
  prefix: string,
  settings: StreamSettings,
  fallbackReplicas = 1,
): Promise<StreamDescription> {
  const config = streamConfig(name, prefix, settings, fallbackReplicas);
  const wanted = `${prefix}.>`;
  const check = (subjects: readonly string[] | undefined, created: boolean): StreamDescription => {
    const list = subjects ?? [];
    if (!list.includes(wanted) && !list.includes('>')) {
      throw new BrokerError(
        `stream ${name} exists but captures ${JSON.stringify(list)}, not ${wanted}; ` +
          'pick another stream name or subject prefix',
      );
    }
    return { name, subjects: list, created };
  };
  try {
    const info = await jsm.streams.info(name);
    return check(info.config.subjects, false);
  } catch (error) {
    if (!isNotFound(error)) throw toProxyStreamError(error, `looking up stream ${name}`);
  }
  try {
    const info = await jsm.streams.add(config);
    return check(info.config.subjects, true);
  } catch (error) {
    // Another process may have created it at the same moment.
    try {
      const info = await jsm.streams.info(name);
      return check(info.config.subjects, false);
    } catch {
      throw toProxyStreamError(error, `creating stream ${name}`);
    }
  }
}

function isNotFound(error: unknown): boolean {
  return (error as { code?: unknown } | null)?.code === 10059;
}

/**
 * Creates the stream the JetStream shims keep topics in, unless it exists (an existing stream is
 * left as it is, after checking it captures `${subjectPrefix}.>`).
 *
 * @example
 * ```ts
 * await ensureStream({
 *   connection: { servers: 'nats://127.0.0.1:4222' },
 *   retention: 'limits',
 *   maxAgeMs: 3_600_000,
 * });
 * ```
 * @throws {@link BrokerError} when the server refuses, or an existing stream captures other subjects.
 */
export async function ensureStream(options: EnsureStreamOptions = {}): Promise<StreamDescription> {
  const name = options.name ?? DEFAULT_STREAM;
  const prefix = options.subjectPrefix ?? DEFAULT_SUBJECT_PREFIX;
  assertValidName('stream name', name, true);
  assertValidName('subject prefix', prefix);
  streamConfig(name, prefix, options);
  const held = await openConnection(options.connection);
  try {
    const jsm = await jetstreamManager(held.nc);
    return await ensureStreamOn(jsm, name, prefix, options, defaultReplicas(held.nc));
  } catch (error) {
    throw toProxyStreamError(error, `ensuring stream ${name}`);
  } finally {
    await releaseConnection(held);
  }
}

/** Stream name, subject prefix and opt-in creation, checked once for a publisher or subscriber. */
export class StreamTarget {
  readonly name: string;
  readonly prefix: string;
  readonly #create: StreamSettings | undefined;
  #ensured: Promise<unknown> | undefined;

  constructor(options: JetStreamStreamOptions) {
    this.name = options.stream ?? DEFAULT_STREAM;
    this.prefix = options.subjectPrefix ?? DEFAULT_SUBJECT_PREFIX;
    assertValidName('stream name', this.name, true);
    assertValidName('subject prefix', this.prefix);
    const create = options.createStream;
    this.#create =
      create === true ? {} : create === false || create === undefined ? undefined : create;
    if (this.#create !== undefined) streamConfig(this.name, this.prefix, this.#create);
  }

  /** Whether the stream is created on first use. */
  get creates(): boolean {
    return this.#create !== undefined;
  }

  /** The subject of `topic` (already validated). */
  subject(topic: string): string {
    return `${this.prefix}.${topic}`;
  }

  /** The stream's own `max_msg_size` (`-1`: none, or the stream cannot be read). */
  async maxMessageSize(nc: NatsConnection): Promise<number> {
    try {
      const info = await (await jetstreamManager(nc)).streams.info(this.name);
      return info.config.max_msg_size ?? -1;
    } catch {
      return -1;
    }
  }

  /** Creates the stream when `createStream` asked for it; once. */
  async ensure(nc: NatsConnection): Promise<void> {
    const settings = this.#create;
    if (settings === undefined) return;
    this.#ensured ??= jetstreamManager(nc).then((jsm) =>
      ensureStreamOn(jsm, this.name, this.prefix, settings, defaultReplicas(nc)),
    );
    try {
      await this.#ensured;
    } catch (error) {
      this.#ensured = undefined;
      throw toProxyStreamError(error, `creating stream ${this.name}`);
    }
  }
}

/**
 * The durable consumer name of `group` on `topic`: readable, and unique per (topic, group), since
 * a durable is filtered on one subject and may not contain dots.
 */
export function durableName(topic: string, group: string): string {
  const readable = group.replace(/[^A-Za-z0-9_-]/g, '_').slice(0, 40);
  const digest = createHash('sha256').update(topic).update('\0').update(group).digest('hex');
  return `${readable}_${digest.slice(0, 20)}`;
}
