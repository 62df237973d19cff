import {
  type EndOfStreamEvent,
  type EventBatch,
  InvalidArgumentError,
  type Metadata,
  type StoreConfig,
  type StreamEvent,
} from '@proxystream/protocols';
import { BinaryReader } from './binary-reader.js';
import { BinaryWriter } from './binary-writer.js';

/** First two bytes of every envelope: ASCII `PX`. */
export const WIRE_MAGIC: readonly [number, number] = [0x50, 0x58];

/** Version of the envelope written by {@link encodeBatch}; {@link decodeBatch} reads only this one. */
export const WIRE_FORMAT_VERSION = 1;

const FLAG_STORE = 0x01;
const EVENT_NEW_OBJECT = 0x01;
const EVENT_END_OF_STREAM = 0x02;
const OBJECT_FLAG_EVICT = 0x01;
const BODY_INLINE = 0x01;
const BODY_STORED = 0x02;
const FIXED_HEADER = 4 + 8 + 2 + 2 + 4;

const END_OF_STREAM: EndOfStreamEvent = Object.freeze({ type: 'end-of-stream' });
const EMPTY_METADATA: Metadata = Object.freeze({}) as Metadata;

function isEmpty(metadata: Metadata): boolean {
  for (const _ in metadata) return false;
  return true;
}

function byteLength16(value: string, what: string): number {
  const length = Buffer.byteLength(value, 'utf8');
  if (length > 0xffff)
    throw new InvalidArgumentError(`${what} is ${length} bytes long; the wire format allows 65535`);
  return length;
}

/**
 * Encodes one {@link EventBatch} as a binary envelope (see `docs/wire-format.md`). Inline
 * payloads are copied in raw, without base64; metadata and the store config are JSON.
 *
 * @throws {@link InvalidArgumentError} for a `live` body (only event publishers carry those),
 *   a topic, producer id or key longer than 65535 bytes, or a sequence that is not a safe integer.
 */
export function encodeBatch(batch: EventBatch): Uint8Array {
  const topicLength = byteLength16(batch.topic, 'topic');
  const producerLength = byteLength16(batch.producerId, 'producer id');
  if (!Number.isSafeInteger(batch.sequence) || batch.sequence < 0) {
    throw new InvalidArgumentError(`sequence ${batch.sequence} is not a non-negative safe integer`);
  }
  const storeJson = batch.store === undefined ? undefined : JSON.stringify(batch.store);
  const events = batch.events;
  const metadataJson: (string | undefined)[] = new Array(events.length);
  let size = FIXED_HEADER + topicLength + producerLength;
  if (storeJson !== undefined) size += 4 + Buffer.byteLength(storeJson, 'utf8');
  for (let i = 0; i < events.length; i++) {
    const event = events[i]!;
    if (event.type === 'end-of-stream') {
      size += 1;
      continue;
    }
    size += 7;
    if (!isEmpty(event.metadata)) {
      const json = JSON.stringify(event.metadata);
      metadataJson[i] = json;
      size += Buffer.byteLength(json, 'utf8');
    }
    const body = event.body;
    if (body.kind === 'inline') size += 4 + body.data.byteLength;
    else if (body.kind === 'stored') size += 2 + byteLength16(body.key, 'store key');
    else {
      throw new InvalidArgumentError(
        'a live body cannot be encoded to bytes; serialise the object or send through an EventPublisher',
      );
    }
  }

  // Pooled: an envelope goes to a publisher, which sends or copies it, not to long-lived storage.
  const writer = new BinaryWriter(size, true);
  writer.u8(WIRE_MAGIC[0]);
  writer.u8(WIRE_MAGIC[1]);
  writer.u8(WIRE_FORMAT_VERSION);
  writer.u8(storeJson === undefined ? 0 : FLAG_STORE);
  writer.u64(batch.sequence);
  writer.string16(batch.topic, topicLength);
  writer.string16(batch.producerId, producerLength);
  if (storeJson !== undefined) writer.string32(storeJson);
  writer.u32(events.length);
  for (let i = 0; i < events.length; i++) {
    const event = events[i]!;
    if (event.type === 'end-of-stream') {
      writer.u8(EVENT_END_OF_STREAM);
      continue;
    }
    writer.u8(EVENT_NEW_OBJECT);
    writer.u8(event.evict ? OBJECT_FLAG_EVICT : 0);
    const body = event.body;
    writer.u8(body.kind === 'inline' ? BODY_INLINE : BODY_STORED);
    const json = metadataJson[i];
    if (json === undefined) writer.u32(0);
    else writer.string32(json);
    if (body.kind === 'inline') {
      writer.u32(body.data.byteLength);
      writer.bytes(body.data);
    } else if (body.kind === 'stored') {
      writer.string16(body.key, Buffer.byteLength(body.key, 'utf8'));
    }
  }
  return writer.finish();
}

function parseJsonObject(
  reader: BinaryReader,
  text: string,
  what: string,
): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    reader.fail(`${what} is not valid JSON`, error);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    reader.fail(`${what} is not a JSON object`);
  }
  return value as Record<string, unknown>;
}

/**
 * Decodes an envelope made by {@link encodeBatch}. Inline payloads are views into `message`
 * (no copy). Never evaluates code: metadata and store configs go through `JSON.parse` only.
 *
 * @throws {@link DecodeError} for anything that is not a complete, valid version-1 envelope;
 *   the caller can skip the message and go on.
 */
export function decodeBatch(message: Uint8Array): EventBatch {
  const reader = new BinaryReader(message, 'proxystream envelope');
  if (message.byteLength < 4 || message[0] !== WIRE_MAGIC[0] || message[1] !== WIRE_MAGIC[1]) {
    reader.fail('not a proxystream envelope (magic bytes "PX" missing)');
  }
  reader.u16();
  const version = reader.u8();
  if (version !== WIRE_FORMAT_VERSION) {
    reader.fail(
      `wire format version ${version} is not supported by this build (reads ${WIRE_FORMAT_VERSION}); upgrade @proxystream/stream`,
    );
  }
  const flags = reader.u8();
  if ((flags & ~FLAG_STORE) !== 0) reader.fail(`unknown envelope flags 0x${flags.toString(16)}`);
  const sequence = reader.u64();
  const topic = reader.string(reader.u16());
  const producerId = reader.string(reader.u16());
  let store: StoreConfig | undefined;
  if ((flags & FLAG_STORE) !== 0) {
    const config = parseJsonObject(reader, reader.string(reader.u32()), 'store config');
    if (typeof config.kind !== 'string' || typeof config.name !== 'string') {
      reader.fail('store config lacks a string "kind" and "name"');
    }
    store = config as StoreConfig;
  }
  const count = reader.u32();
  if (count > reader.remaining) reader.fail(`event count ${count} exceeds the message length`);
  const events: StreamEvent[] = new Array(count);
  for (let i = 0; i < count; i++) {
    const type = reader.u8();
    if (type === EVENT_END_OF_STREAM) {
      events[i] = END_OF_STREAM;
      continue;
    }
    if (type !== EVENT_NEW_OBJECT) reader.fail(`unknown event type 0x${type.toString(16)}`);
    const objectFlags = reader.u8();
    if ((objectFlags & ~OBJECT_FLAG_EVICT) !== 0)
      reader.fail(`unknown object flags 0x${objectFlags.toString(16)}`);
    const bodyKind = reader.u8();
    const metadataLength = reader.u32();
    const metadata =
      metadataLength === 0
        ? EMPTY_METADATA
        : (parseJsonObject(reader, reader.string(metadataLength), 'metadata') as Metadata);
    const evict = (objectFlags & OBJECT_FLAG_EVICT) !== 0;
    if (bodyKind === BODY_INLINE) {
      events[i] = {
        type: 'new-object',
        metadata,
        evict,
        body: { kind: 'inline', data: reader.bytes(reader.u32()) },
      };
    } else if (bodyKind === BODY_STORED) {
      if (store === undefined) reader.fail('a stored object in a batch without a store config');
      events[i] = {
        type: 'new-object',
        metadata,
        evict,
        body: { kind: 'stored', key: reader.string(reader.u16()) },
      };
    } else {
      reader.fail(`unknown body kind 0x${bodyKind.toString(16)}`);
    }
  }
  reader.end();
  return store === undefined
    ? { topic, producerId, sequence, events }
    : { topic, producerId, sequence, store, events };
}
