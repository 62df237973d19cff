/**
 * The shim's wire framing. A message starts with the topic's UTF-8 bytes and a NUL (so that a SUB
 * prefix subscription matches it exactly), then a header of 11 bytes: the format version, the
 * publisher's 48-bit random id, and a 32-bit sequence number per publisher and topic (wrapping),
 * which lets a subscriber see drops. Then the message:
 * - version 2 (what publishers send): topic, header and message in one ZeroMQ message part, or,
 *   for a large message handed over (`owned`), topic and header in one part and the message, not
 *   copied, in a second;
 * - version 1 (still read): three parts, the topic, the header, the message.
 * One part instead of three: ZeroMQ's cost is per part (about 1.5 µs each on loopback here), far
 * more than copying a small message.
 * Internal to the package.
 */
import { randomBytes } from 'node:crypto';
import { bufferView } from '@proxystream/protocols/kit';

/** The version of three-part messages (read, no longer sent). */
export const FRAMING_VERSION_PARTS = 1;
/** The version publishers send. */
export const FRAMING_VERSION = 2;
export const HEADER_LENGTH = 11;
/**
 * Largest message handed over (`owned`) that still goes in the part of its header, copied: below
 * this, a copy costs less than one more ZeroMQ part.
 */
export const GATHER_OWNED_BELOW = 16 * 1024;

/** The topic and its NUL, the start of every message of `topic`. */
export function topicFrame(topic: string): Buffer {
  const length = Buffer.byteLength(topic, 'utf8');
  const frame = Buffer.allocUnsafe(length + 1);
  frame.write(topic, 0, 'utf8');
  frame[length] = 0;
  return frame;
}

/** A fresh random publisher id (48 bits, a safe integer). */
export function newPublisherId(): number {
  return randomBytes(6).readUIntBE(0, 6);
}

/** Writes the header (framing version 2) into `part` at `offset`. */
function writeHeader(part: Buffer, offset: number, publisher: number, sequence: number): void {
  part[offset] = FRAMING_VERSION;
  part.writeUIntBE(publisher, offset + 1, 6);
  part.writeUInt32BE(sequence >>> 0, offset + 7);
}

/**
 * A message on its way to the socket, framed when it is written (its sequence number is given
 * then, so a send given up before never leaves a false gap): {@link pendingMessage}, then
 * {@link messageParts}.
 */
export interface PendingMessage {
  readonly topic: Buffer;
  /** Topic, room for the header, message (copied); or the message itself, its own part. */
  readonly body: Buffer;
  readonly gathered: boolean;
}

/**
 * Holds `message` until it is written: copied after room for the topic and header (the caller
 * may reuse its buffer once `send` returned), or, handed over (`owned`), kept as it is. A small
 * handed-over message is copied when written ({@link messageParts}), a large one never.
 */
export function pendingMessage(topic: Buffer, message: Uint8Array, owned: boolean): PendingMessage {
  if (owned) return { topic, body: bufferView(message), gathered: false };
  return { topic, body: gathered(topic, message), gathered: true };
}

/** The topic, room for the header, then a copy of `message`: one part. */
function gathered(topic: Buffer, message: Uint8Array): Buffer {
  const prefix = topic.length + HEADER_LENGTH;
  const part = Buffer.allocUnsafe(prefix + message.byteLength);
  topic.copy(part, 0);
  part.set(message, prefix);
  return part;
}

/** The parts of message `sequence` of `publisher` (framing version 2). */
export function messageParts(
  pending: PendingMessage,
  publisher: number,
  sequence: number,
): Buffer[] {
  const { topic, body } = pending;
  const small = !pending.gathered && body.byteLength < GATHER_OWNED_BELOW;
  if (pending.gathered || small) {
    const part = small ? gathered(topic, body) : body;
    writeHeader(part, topic.length, publisher, sequence);
    return [part];
  }
  const head = Buffer.allocUnsafe(topic.length + HEADER_LENGTH);
  topic.copy(head, 0);
  writeHeader(head, topic.length, publisher, sequence);
  return [head, body];
}

/** A received message in the shim's framing. */
export interface Frame {
  /** The topic and its NUL. */
  readonly topic: Buffer;
  readonly publisher: number;
  readonly sequence: number;
  /** The message: a view into the received part. */
  readonly payload: Buffer;
}

const UNKNOWN_HEADER = 'an unknown header (not sent by a proxystream ZeroMQ publisher)';

/** The parts of a received message, or why they are not in the shim's framing. */
export function decodeFrame(parts: readonly Buffer[]): Frame | string {
  if (parts.length === 3) {
    const [topic, head, payload] = parts as [Buffer, Buffer, Buffer];
    if (head.length !== HEADER_LENGTH || head[0] !== FRAMING_VERSION_PARTS) return UNKNOWN_HEADER;
    return { topic, publisher: head.readUIntBE(1, 6), sequence: head.readUInt32BE(7), payload };
  }
  if (parts.length !== 1 && parts.length !== 2) {
    return `${parts.length} message part(s) instead of 1 or 2 (or 3 of framing version 1)`;
  }
  const first = parts[0]!;
  const end = first.indexOf(0);
  const at = end + 1;
  if (end < 0 || first.length < at + HEADER_LENGTH || first[at] !== FRAMING_VERSION) {
    return UNKNOWN_HEADER;
  }
  const rest = at + HEADER_LENGTH;
  if (parts.length === 2 && first.length !== rest) {
    return 'a first part longer than topic and header, and a second part';
  }
  return {
    topic: first.subarray(0, at),
    publisher: first.readUIntBE(at + 1, 6),
    sequence: first.readUInt32BE(at + 7),
    payload: parts.length === 2 ? parts[1]! : first.subarray(rest),
  };
}

/**
 * Tracks the next sequence number of each publisher of one topic: `gap` says how many messages
 * went missing before a received one. The first message of a publisher sets the start (what was
 * sent before the subscription reached it is not a loss).
 */
export class SequenceTracker {
  readonly #next = new Map<number, number>();

  /** Messages missing between the last one of `publisher` and `sequence` (0: none). */
  gap(publisher: number, sequence: number): number {
    const expected = this.#next.get(publisher);
    if (expected === undefined && this.#next.size >= 4096) {
      // Publishers come and go; forget the one heard from longest ago.
      const oldest = this.#next.keys().next().value;
      if (oldest !== undefined) this.#next.delete(oldest);
    }
    this.#next.set(publisher, (sequence + 1) >>> 0);
    if (expected === undefined) return 0;
    const gap = (sequence - expected) >>> 0;
    // A number behind the expected one (a restarted publisher with the same id): a new start.
    return gap > 0x7fffffff ? 0 : gap;
  }
}
