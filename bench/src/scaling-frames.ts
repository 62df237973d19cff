import type { Socket } from 'node:net';

/**
 * The task transport of the scaling section: length-prefixed frames over a TCP socket, as a
 * task system's dispatcher and its workers speak (Parsl, Globus Compute and Dask all frame
 * serialised tasks over TCP). A frame is a 9-byte header — payload length (u32 BE), kind (u8),
 * task id (u32 BE) — followed by the payload.
 */
export const FrameKind = {
  /** Dispatcher → worker: the payload is the item's bytes (direct, inline items). */
  taskBytes: 1,
  /** Dispatcher → worker: the payload is a serialised reference (UTF-8 JSON of ProxyReference). */
  taskReference: 2,
  /** Worker → dispatcher: task done; payload = item length (f64 BE), worker RSS (f64 BE). */
  done: 3,
  /** Worker → dispatcher: task failed; payload = UTF-8 error text. */
  failed: 4,
} as const;
export type FrameKind = (typeof FrameKind)[keyof typeof FrameKind];

const HEADER = 9;

/** One received frame. */
export interface Frame {
  readonly kind: FrameKind;
  readonly id: number;
  readonly payload: Buffer;
}

/**
 * Writes one frame. The payload is handed to the socket as it is (the kernel copies it into the
 * socket buffer); corked so that header and payload leave in one write. Returns `false` when the
 * socket's buffer is above its high-water mark (the caller may wait for `drain`).
 */
export function writeFrame(
  socket: Socket,
  kind: FrameKind,
  id: number,
  payload: Uint8Array,
): boolean {
  const header = Buffer.allocUnsafe(HEADER);
  header.writeUInt32BE(payload.byteLength, 0);
  header.writeUInt8(kind, 4);
  header.writeUInt32BE(id >>> 0, 5);
  socket.cork();
  socket.write(header);
  const ok = socket.write(payload);
  socket.uncork();
  return ok;
}

/**
 * Reassembles frames from socket chunks. A payload that arrives in one chunk is a view of it;
 * a larger one is copied once, chunk by chunk as it arrives, into a buffer of its final size —
 * the one copy a receiver of a framed transport cannot avoid.
 */
export class FrameReader {
  readonly #onFrame: (frame: Frame) => void;
  #header = Buffer.alloc(HEADER);
  #headerFill = 0;
  #kind: FrameKind = FrameKind.done;
  #id = 0;
  #payload: Buffer | undefined;
  #payloadFill = 0;

  constructor(onFrame: (frame: Frame) => void) {
    this.#onFrame = onFrame;
  }

  /** Feeds one chunk read from the socket. */
  push(chunk: Buffer): void {
    let offset = 0;
    while (offset < chunk.length) {
      if (this.#payload === undefined) {
        // A whole header and payload in this chunk: no copy.
        if (this.#headerFill === 0 && chunk.length - offset >= HEADER) {
          const length = chunk.readUInt32BE(offset);
          const kind = chunk.readUInt8(offset + 4) as FrameKind;
          const id = chunk.readUInt32BE(offset + 5);
          offset += HEADER;
          if (chunk.length - offset >= length) {
            this.#onFrame({ kind, id, payload: chunk.subarray(offset, offset + length) });
            offset += length;
            continue;
          }
          this.#start(kind, id, length);
          continue;
        }
        const take = Math.min(HEADER - this.#headerFill, chunk.length - offset);
        chunk.copy(this.#header, this.#headerFill, offset, offset + take);
        this.#headerFill += take;
        offset += take;
        if (this.#headerFill < HEADER) return;
        this.#headerFill = 0;
        const length = this.#header.readUInt32BE(0);
        this.#start(this.#header.readUInt8(4) as FrameKind, this.#header.readUInt32BE(5), length);
        if (length === 0) this.#finish();
        continue;
      }
      const take = Math.min(this.#payload.length - this.#payloadFill, chunk.length - offset);
      chunk.copy(this.#payload, this.#payloadFill, offset, offset + take);
      this.#payloadFill += take;
      offset += take;
      if (this.#payloadFill === this.#payload.length) this.#finish();
    }
  }

  #start(kind: FrameKind, id: number, length: number): void {
    this.#kind = kind;
    this.#id = id;
    this.#payload = Buffer.allocUnsafe(length);
    this.#payloadFill = 0;
  }

  #finish(): void {
    const payload = this.#payload!;
    this.#payload = undefined;
    this.#onFrame({ kind: this.#kind, id: this.#id, payload });
  }
}
