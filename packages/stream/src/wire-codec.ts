import {
  type EndOfStreamEvent,
  type EventBatch,
  InvalidArgumentError,
  type Metadata,
  type StoreConfig,
  type StreamEvent,
} from '@proxystream/protocols';
import { BinaryReader, type StringCache } from './binary-reader.js';

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
 * The topic and producer id of an envelope as written (each a u16 length and UTF-8 bytes). A
 * producer sends the same pair in every batch of a topic, so the encoded bytes are kept and
 * copied in rather than measured and encoded again per batch.
 */
interface EncodedHeader {
  readonly topic: string;
  readonly producerId: string;
  readonly bytes: Buffer;
}

/** Recently encoded headers by topic; bounded, cleared when full (any pair is re-encoded on a miss). */
const headers = new Map<string, EncodedHeader>();
const MAX_CACHED_HEADERS = 1024;

function encodedHeader(topic: string, producerId: string): Buffer {
  const cached = headers.get(topic);
  if (cached !== undefined && cached.producerId === producerId) return cached.bytes;
  const topicLength = byteLength16(topic, 'topic');
  const producerLength = byteLength16(producerId, 'producer id');
  // Unpooled: kept for as long as the topic is in use.
  const bytes = Buffer.allocUnsafeSlow(4 + topicLength + producerLength);
  bytes.writeUInt16BE(topicLength, 0);
  bytes.write(topic, 2, topicLength, 'utf8');
  bytes.writeUInt16BE(producerLength, 2 + topicLength);
  bytes.write(producerId, 4 + topicLength, producerLength, 'utf8');
  if (headers.size >= MAX_CACHED_HEADERS) headers.clear();
  headers.set(topic, { topic, producerId, bytes });
  return bytes;
}

/**
 * Encodes one {@link EventBatch} as a binary envelope (see `docs/wire-format.md`). Inline
 * payloads are copied in raw, without base64; metadata and the store config are JSON.
 *
 * The result may be a view into a buffer shared with other small allocations (Node's buffer
 * pool): hand it to a publisher or copy it, but do not keep many of them for long.
 *
 * @throws {@link InvalidArgumentError} for a `live` body (only event publishers carry those),
 *   a topic, producer id or key longer than 65535 bytes, or a sequence that is not a safe integer.
 */
export function encodeBatch(batch: EventBatch): Uint8Array {
  const sequence = batch.sequence;
  if (!Number.isSafeInteger(sequence) || sequence < 0) {
    throw new InvalidArgumentError(`sequence ${sequence} is not a non-negative safe integer`);
  }
  const header = encodedHeader(batch.topic, batch.producerId);
  const storeJson = batch.store === undefined ? undefined : JSON.stringify(batch.store);
  const events = batch.events;
  let metadataJson: (string | undefined)[] | undefined;
  let size = FIXED_HEADER - 4 + header.byteLength;
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
      metadataJson ??= new Array(events.length);
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
  // Written with direct index stores: every size is known, so no bounds-checked writer is needed.
  const out = Buffer.allocUnsafe(size);
  out[0] = WIRE_MAGIC[0];
  out[1] = WIRE_MAGIC[1];
  out[2] = WIRE_FORMAT_VERSION;
  out[3] = storeJson === undefined ? 0 : FLAG_STORE;
  writeU32(out, 4, Math.floor(sequence / 0x1_0000_0000));
  writeU32(out, 8, sequence >>> 0);
  out.set(header, 12);
  let position = 12 + header.byteLength;
  if (storeJson !== undefined) {
    const length = out.write(storeJson, position + 4, 'utf8');
    writeU32(out, position, length);
    position += 4 + length;
  }
  writeU32(out, position, events.length);
  position += 4;
  for (let i = 0; i < events.length; i++) {
    const event = events[i]!;
    if (event.type === 'end-of-stream') {
      out[position++] = EVENT_END_OF_STREAM;
      continue;
    }
    const body = event.body;
    out[position] = EVENT_NEW_OBJECT;
    out[position + 1] = event.evict ? OBJECT_FLAG_EVICT : 0;
    out[position + 2] = body.kind === 'inline' ? BODY_INLINE : BODY_STORED;
    position += 3;
    const json = metadataJson?.[i];
    if (json === undefined) {
      writeU32(out, position, 0);
      position += 4;
    } else {
      const length = out.write(json, position + 4, 'utf8');
      writeU32(out, position, length);
      position += 4 + length;
    }
    if (body.kind === 'inline') {
      const data = body.data;
      writeU32(out, position, data.byteLength);
      out.set(data, position + 4);
      position += 4 + data.byteLength;
    } else if (body.kind === 'stored') {
      const length = out.write(body.key, position + 2, 'utf8');
      out[position] = length >>> 8;
      out[position + 1] = length & 0xff;
      position += 2 + length;
    }
  }
  return out;
}

function writeU32(out: Uint8Array, position: number, value: number): void {
  out[position] = value >>> 24;
  out[position + 1] = (value >>> 16) & 0xff;
  out[position + 2] = (value >>> 8) & 0xff;
  out[position + 3] = value & 0xff;
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

// Every message of a stream repeats its topic and producer id: decode them once.
const topicCache: StringCache = { bytes: new Uint8Array(0), value: '' };
const producerCache: StringCache = { bytes: new Uint8Array(0), value: '' };

/**
 * Decodes an envelope made by {@link encodeBatch}. Inline payloads are plain `Uint8Array` views
 * into `message` (no copy), also when `message` is a `Buffer`. Never evaluates code: metadata and store configs go through `JSON.parse` only.
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
  const topic = reader.cachedString(reader.u16(), topicCache);
  const producerId = reader.cachedString(reader.u16(), producerCache);
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
