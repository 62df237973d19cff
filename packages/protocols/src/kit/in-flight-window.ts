/** Options of {@link InFlightWindow}. */
export interface InFlightWindowOptions {
  /** Most operations in flight at once. */
  maxCount: number;
  /** Most bytes in flight at once; one operation larger than this still runs, alone. */
  maxBytes: number;
}

/**
 * Bounds the operations and bytes a publisher has in flight: `acquire` waits until both fit, so a
 * burst of `send` calls turns into backpressure instead of unbounded buffers in client or broker.
 */
export class InFlightWindow {
  readonly #maxCount: number;
  readonly #maxBytes: number;
  #count = 0;
  #bytes = 0;
  #waiters: Array<{ bytes: number; resolve: () => void }> = [];
  #idle: Array<() => void> = [];

  constructor(options: InFlightWindowOptions) {
    this.#maxCount = options.maxCount;
    this.#maxBytes = options.maxBytes;
  }

  /** Operations currently in flight. */
  get count(): number {
    return this.#count;
  }

  /** Callers of {@link acquire} still waiting for room. */
  get waiting(): number {
    return this.#waiters.length;
  }

  /** Waits until an operation of `bytes` fits, then counts it in flight. Pair with {@link release}. */
  acquire(bytes: number): Promise<void> | undefined {
    if (this.#waiters.length === 0 && this.#fits(bytes)) {
      this.#take(bytes);
      return undefined;
    }
    return new Promise((resolve) => this.#waiters.push({ bytes, resolve }));
  }

  /**
   * Marks `count` operations (default one) of `bytes` in all as finished and admits waiting ones
   * that now fit.
   */
  release(bytes: number, count = 1): void {
    this.#count -= count;
    this.#bytes -= bytes;
    while (this.#waiters.length > 0) {
      const next = this.#waiters[0]!;
      if (!this.#fits(next.bytes)) break;
      this.#waiters.shift();
      this.#take(next.bytes);
      next.resolve();
    }
    if (this.#count === 0 && this.#waiters.length === 0) {
      const idle = this.#idle;
      this.#idle = [];
      for (const resolve of idle) resolve();
    }
  }

  /** Resolves when nothing is in flight or waiting. */
  drained(): Promise<void> {
    if (this.#count === 0 && this.#waiters.length === 0) return Promise.resolve();
    return new Promise((resolve) => this.#idle.push(resolve));
  }

  #fits(bytes: number): boolean {
    if (this.#count === 0) return true;
    return this.#count < this.#maxCount && this.#bytes + bytes <= this.#maxBytes;
  }

  #take(bytes: number): void {
    this.#count++;
    this.#bytes += bytes;
  }
}
