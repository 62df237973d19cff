/**
 * The shim's wire framing, three ZeroMQ message parts:
 * 1. the topic: its UTF-8 bytes and a NUL (so a SUB prefix subscription matches it exactly);
 * 2. a header of 11 bytes: format version 1, the publisher's 48-bit random id, and a 32-bit
 *    sequence number per publisher and topic (wrapping), which lets a subscriber see drops;
 * 3. the message.
 * Internal to the package.
 */
import { randomBytes } from 'node:crypto';

export const FRAMING_VERSION = 1;
export const HEADER_LENGTH = 11;

/** The first part of every message of `topic`. */
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

/** The header of message `sequence` of `publisher`. */
export function header(publisher: number, sequence: number): Buffer {
  const bytes = Buffer.allocUnsafe(HEADER_LENGTH);
  bytes[0] = FRAMING_VERSION;
  bytes.writeUIntBE(publisher, 1, 6);
  bytes.writeUInt32BE(sequence >>> 0, 7);
  return bytes;
}

/** A received message in the shim's framing. */
export interface Frame {
  readonly topic: Buffer;
  readonly publisher: number;
  readonly sequence: number;
  readonly payload: Buffer;
}

/** The parts of a received message, or why they are not in the shim's framing. */
export function decodeFrame(parts: readonly Buffer[]): Frame | string {
  if (parts.length !== 3) return `${parts.length} message part(s) instead of 3`;
  const [topic, head, payload] = parts as [Buffer, Buffer, Buffer];
  if (head.length !== HEADER_LENGTH || head[0] !== FRAMING_VERSION) {
    return 'an unknown header (not sent by a proxystream ZeroMQ publisher)';
  }
  return { topic, publisher: head.readUIntBE(1, 6), sequence: head.readUInt32BE(7), payload };
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
