import {
  type EndOfStreamEvent,
  type EventBatch,
  InvalidArgumentError,
  type Metadata,
  type ObjectBody,
  type StoreConfig,
  type StreamEvent,
  type TraceContext,
} from '@proxystream/protocols';
import { BinaryReader, type StringCache } from './binary-reader.js';

/** First two bytes of every envelope: ASCII `PX`. */
export const WIRE_MAGIC: readonly [number, number] = [0x50, 0x58];

/**
 * The newest envelope version: {@link decodeBatch} reads it and every older one (1 and 2).
 * {@link encodeBatch} writes it only for a batch that carries a trace context; any other batch is
 * still written as version 1, byte for byte as before version 2 existed, so that untraced
 * producers stay readable by consumers that know version 1 only.
 */
export const WIRE_FORMAT_VERSION = 2;

/** The version of an envelope without trace contexts. */
const VERSION_UNTRACED = 1;

const FLAG_STORE = 0x01;
const EVENT_NEW_OBJECT = 0x01;
const EVENT_END_OF_STREAM = 0x02;
const OBJECT_FLAG_EVICT = 0x01;
/** Version 2 only: a trace context follows the object's metadata. */
const OBJECT_FLAG_TRACE = 0x02;
const BODY_INLINE = 0x01;
const BODY_STORED = 0x02;
const FIXED_HEADER = 4 + 8 + 2 + 2 + 4;
/** Trace id, span id, trace flags and the tracestate's u16 length. */
const TRACE_FIXED = 16 + 8 + 1 + 2;
const MAX_TRACE_STATE = 512;

const TRACE_ID = /^[0-9a-f]{32}$/;
const SPAN_ID = /^[0-9a-f]{16}$/;
const INVALID_TRACE_ID = '0'.repeat(32);
const INVALID_SPAN_ID = '0'.repeat(16);
const PRINTABLE_ASCII = /^[\x20-\x7e]*$/;

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

/** A short, safe rendering of a rejected value for an error message. */
function shown(value: unknown): string {
  if (typeof value !== 'string') return `<${typeof value}>`;
  return JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value);
}

/**
 * Checks the trace context of event `index` and returns the length of its tracestate (ASCII, so
 * characters are bytes); an empty tracestate is written as none.
 */
function traceStateLength(trace: TraceContext, index: number): number {
  const { traceId, spanId, traceFlags, traceState } = trace;
  const what = `event ${index}: trace context`;
  if (typeof traceId !== 'string' || !TRACE_ID.test(traceId) || traceId === INVALID_TRACE_ID) {
    throw new InvalidArgumentError(
      `${what}: trace id ${shown(traceId)} is not 32 lowercase hex characters, not all zero`,
    );
  }
  if (typeof spanId !== 'string' || !SPAN_ID.test(spanId) || spanId === INVALID_SPAN_ID) {
    throw new InvalidArgumentError(
      `${what}: span id ${shown(spanId)} is not 16 lowercase hex characters, not all zero`,
    );
  }
  if (!Number.isInteger(traceFlags) || traceFlags < 0 || traceFlags > 0xff) {
    throw new InvalidArgumentError(
      `${what}: trace flags ${String(traceFlags)} are not an integer from 0 to 255`,
    );
  }
  if (traceState === undefined) return 0;
  if (typeof traceState !== 'string' || traceState.length > MAX_TRACE_STATE) {
    throw new InvalidArgumentError(
      `${what}: the tracestate must be a string of at most ${MAX_TRACE_STATE} characters`,
    );
  }
  if (!PRINTABLE_ASCII.test(traceState)) {
    throw new InvalidArgumentError(
      `${what}: the tracestate ${shown(traceState)} holds characters outside printable ASCII (0x20–0x7e)`,
    );
  }
  return traceState.length;
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
 * A batch in which no new-object event has a `trace` is written as version 1; one with a trace
 * context on at least one event is written as version 2 ({@link WIRE_FORMAT_VERSION}), which
 * consumers older than version 2 reject: upgrade consumers before producers start tracing.
 *
 * @throws {@link InvalidArgumentError} for a `live` body (only event publishers carry those),
 *   a topic, producer id or key longer than 65535 bytes, a sequence that is not a safe integer,
 *   or a trace context whose ids are not lowercase hex of the right length (or are all zero),
 *   whose flags are not a byte, or whose tracestate is longer than 512 characters or not
 *   printable ASCII.
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
  let traced = false;
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
    const trace = event.trace;
    if (trace !== undefined) {
      size += TRACE_FIXED + traceStateLength(trace, i);
      traced = true;
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
  out[2] = traced ? WIRE_FORMAT_VERSION : VERSION_UNTRACED;
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
    const trace = event.trace;
    out[position] = EVENT_NEW_OBJECT;
    out[position + 1] =
      (event.evict ? OBJECT_FLAG_EVICT : 0) | (trace === undefined ? 0 : OBJECT_FLAG_TRACE);
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
    if (trace !== undefined) position = writeTrace(out, position, trace);
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

/** Writes a trace context checked by {@link traceStateLength}; returns the position after it. */
function writeTrace(out: Buffer, position: number, trace: TraceContext): number {
  out.write(trace.traceId, position, 16, 'hex');
  out.write(trace.spanId, position + 16, 8, 'hex');
  out[position + 24] = trace.traceFlags;
  const state = trace.traceState;
  // Printable ASCII: one byte per character.
  const length = state === undefined ? 0 : out.write(state, position + 27, 'latin1');
  out[position + 25] = length >>> 8;
  out[position + 26] = length & 0xff;
  return position + TRACE_FIXED + length;
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

/** Reads the trace context of a new-object event whose object flag bit 1 is set. */
function readTrace(reader: BinaryReader): TraceContext {
  const traceId = reader.hex(16);
  if (traceId === INVALID_TRACE_ID) reader.fail('all-zero trace id');
  const spanId = reader.hex(8);
  if (spanId === INVALID_SPAN_ID) reader.fail('all-zero span id');
  const traceFlags = reader.u8();
  const length = reader.u16();
  if (length === 0) return { traceId, spanId, traceFlags };
  if (length > MAX_TRACE_STATE) {
    reader.fail(`tracestate of ${length} bytes (at most ${MAX_TRACE_STATE})`);
  }
  return { traceId, spanId, traceFlags, traceState: reader.printableAscii(length, 'tracestate') };
}

// Every message of a stream repeats its topic and producer id: decode them once.
const topicCache: StringCache = { bytes: new Uint8Array(0), value: '' };
const producerCache: StringCache = { bytes: new Uint8Array(0), value: '' };

/**
 * Decodes an envelope made by {@link encodeBatch}. Inline payloads are plain `Uint8Array` views
 * into `message` (no copy), also when `message` is a `Buffer`. Never evaluates code: metadata and store configs go through `JSON.parse` only.
 *
 * Reads versions 1 and 2. A decoded event has a `trace` property only when the envelope carried
 * a trace context for it (version 2, object flag bit 1), and a `traceState` in it only when the
 * tracestate was not empty.
 *
 * @throws {@link DecodeError} for anything that is not a complete, valid version-1 or version-2
 *   envelope; the caller can skip the message and go on.
 */
export function decodeBatch(message: Uint8Array): EventBatch {
  // Annotated so that `reader.fail` (`never`) narrows control flow.
  const reader: BinaryReader = new BinaryReader(message, 'proxystream envelope');
  if (message.byteLength < 4 || message[0] !== WIRE_MAGIC[0] || message[1] !== WIRE_MAGIC[1]) {
    reader.fail('not a proxystream envelope (magic bytes "PX" missing)');
  }
  reader.u16();
  const version = reader.u8();
  if (version !== VERSION_UNTRACED && version !== WIRE_FORMAT_VERSION) {
    reader.fail(
      `wire format version ${version} is not supported by this build (reads versions ${VERSION_UNTRACED} to ${WIRE_FORMAT_VERSION}); upgrade @proxystream/stream`,
    );
  }
  // Version 1 knows no trace flag: there, bit 1 is as unknown as any other.
  const unknownObjectFlags =
    version === VERSION_UNTRACED ? ~OBJECT_FLAG_EVICT : ~(OBJECT_FLAG_EVICT | OBJECT_FLAG_TRACE);
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
    if ((objectFlags & unknownObjectFlags) !== 0) {
      reader.fail(`unknown object flags 0x${objectFlags.toString(16)} for version ${version}`);
    }
    const bodyKind = reader.u8();
    const metadataLength = reader.u32();
    const metadata =
      metadataLength === 0
        ? EMPTY_METADATA
        : (parseJsonObject(reader, reader.string(metadataLength), 'metadata') as Metadata);
    const evict = (objectFlags & OBJECT_FLAG_EVICT) !== 0;
    const trace = (objectFlags & OBJECT_FLAG_TRACE) === 0 ? undefined : readTrace(reader);
    let body: ObjectBody;
    if (bodyKind === BODY_INLINE) {
      body = { kind: 'inline', data: reader.bytes(reader.u32()) };
    } else if (bodyKind === BODY_STORED) {
      if (store === undefined) reader.fail('a stored object in a batch without a store config');
      body = { kind: 'stored', key: reader.string(reader.u16()) };
    } else {
      reader.fail(`unknown body kind 0x${bodyKind.toString(16)}`);
    }
    // No `trace: undefined` key on untraced events: they look exactly as before version 2.
    events[i] =
      trace === undefined
        ? { type: 'new-object', metadata, evict, body }
        : { type: 'new-object', metadata, evict, body, trace };
  }
  reader.end();
  return store === undefined
    ? { topic, producerId, sequence, events }
    : { topic, producerId, sequence, store, events };
}
