/**
 * A pipe is one contender of a throughput or latency run: something that sends payloads at one
 * end and counts them at the other, in this process. Raw pipes wrap a broker client directly;
 * stream pipes put StreamProducer and StreamConsumer around a shim.
 */
export interface Pipe {
  /** Sends one payload (object); resolving means accepted, as the client or producer defines it. */
  send(data: Uint8Array): Promise<void> | undefined;
  /** After the last send: pushes out whatever is buffered. */
  finish(): Promise<void>;
  /** Payloads received so far. */
  readonly received: number;
  /** Releases everything the pipe opened. */
  close(): Promise<void>;
}

/** Options for opening a pipe. */
export interface PipeOptions {
  /** Payload size in bytes. */
  size: number;
  /** Payloads per broker message: the stream's `batchSize`, or payloads concatenated by a raw pipe. */
  batch: number;
  /** Batches a stream producer keeps in flight (`maxBatchesInFlight`); default 1. */
  inFlight?: number;
  /**
   * Stream pipes: `new StreamProducer(publisher)` with no batching options at all (no
   * `batchSize`, no `maxBatchesInFlight`: whatever the producer does by default), instead of
   * `batchSize` = {@link batch} and `maxBatchesInFlight` = {@link inFlight}, which force the
   * raw client's batch. Raw pipes ignore it. Default `false`.
   */
  defaultProducer?: boolean;
  /** Called with each received payload (batch 1 only for raw pipes). */
  onItem?: (item: Uint8Array) => void;
}

/** A named way to open pipes, or the reason it cannot run here. */
export interface Contender {
  readonly name: string;
  readonly kind: 'raw' | 'stream';
  open(options: PipeOptions): Promise<Pipe>;
}

let topicCounter = 0;
/** A fresh topic name, unique in this run. */
export function freshTopic(prefix: string): string {
  topicCounter++;
  return `bench.${prefix}.${process.pid}.${Date.now().toString(36)}.${topicCounter}`;
}

/**
 * Counts the payloads of raw messages (a message holds `batch` payloads of `size` bytes) and
 * batches raw sends: `add` buffers a payload and returns the concatenated message when full.
 */
export class RawBatcher {
  received = 0;
  #parts: Uint8Array[] = [];
  constructor(
    readonly size: number,
    readonly batch: number,
    readonly onItem?: (item: Uint8Array) => void,
  ) {}

  /** Records one received broker message. */
  message(message: Uint8Array): void {
    if (this.batch === 1) {
      this.received++;
      this.onItem?.(message);
    } else this.received += Math.round(message.byteLength / this.size);
  }

  /** Buffers `data`; returns the message to publish once `batch` payloads are buffered. */
  add(data: Uint8Array): Uint8Array | undefined {
    if (this.batch === 1) return data;
    this.#parts.push(data);
    return this.#parts.length >= this.batch ? this.take() : undefined;
  }

  /** The buffered payloads as one message, or undefined when none are buffered. */
  take(): Uint8Array | undefined {
    if (this.#parts.length === 0) return undefined;
    const message = Buffer.concat(this.#parts);
    this.#parts = [];
    return message;
  }
}
