import { AbortedError, BrokerError, InvalidArgumentError } from '@proxystream/protocols';
import { positiveInteger } from '@proxystream/protocols/kit';
import type { Context, Socket } from 'zeromq';

/**
 * Where a socket binds or connects, the same on every publisher and subscriber: either side may
 * bind or connect, to one endpoint or several (`tcp://127.0.0.1:5555`, `ipc:///tmp/frames.sock`,
 * `inproc://frames`). Binding `tcp://127.0.0.1:*` takes a port chosen by the system; `endpoints`
 * tells which.
 */
export interface ZmqEndpointOptions {
  /** Endpoints to bind (each resolved before `create` returns). */
  bind?: string | readonly string[];
  /** Endpoints to connect to (ZeroMQ connects in the background and reconnects on its own). */
  connect?: string | readonly string[];
  /**
   * The ZeroMQ context the socket is made in: the caller's (never terminated by the shim), e.g.
   * for `inproc://` endpoints shared with the caller's sockets, or settings such as `ioThreads`.
   * Default: zeromq's global context.
   */
  context?: Context;
}

/** Endpoint lists from the options, checked. Throws {@link InvalidArgumentError}. */
export function endpointsOf(options: ZmqEndpointOptions): {
  bind: readonly string[];
  connect: readonly string[];
} {
  const bind = listOf(options.bind, 'bind');
  const connect = listOf(options.connect, 'connect');
  if (bind.length === 0 && connect.length === 0) {
    throw new InvalidArgumentError(
      "give bind or connect: the endpoint(s) of the socket, e.g. { bind: 'tcp://127.0.0.1:*' }",
    );
  }
  return { bind, connect };
}

function listOf(value: string | readonly string[] | undefined, name: string): readonly string[] {
  if (value === undefined) return [];
  const list = typeof value === 'string' ? [value] : value;
  if (!Array.isArray(list)) throw new InvalidArgumentError(`${name} must be a string or an array`);
  for (const item of list) {
    if (typeof item !== 'string' || !/^[a-z]+:\/\/./.test(item)) {
      throw new InvalidArgumentError(
        `${name} must hold ZeroMQ endpoints like 'tcp://127.0.0.1:5555', got ${String(item)}`,
      );
    }
  }
  return [...list];
}

/** A high-water mark option: a positive integer. */
export function highWaterMark(value: unknown, name: string): number {
  return positiveInteger(value, name, 1000);
}

/**
 * Binds and connects `socket`; resolves the endpoints it is bound to (with system-chosen ports
 * filled in) and connected to. On failure the socket is closed and a {@link BrokerError} thrown;
 * when `signal` aborted meanwhile, the socket is closed and {@link AbortedError} thrown (the
 * signal rule: nothing stays open).
 */
export async function attach(
  socket: Socket,
  endpoints: { bind: readonly string[]; connect: readonly string[] },
  signal: AbortSignal | undefined,
): Promise<string[]> {
  const attached: string[] = [];
  let current = '';
  try {
    for (const address of endpoints.bind) {
      current = address;
      await socket.bind(address);
      attached.push(socket.lastEndpoint ?? address);
    }
    for (const address of endpoints.connect) {
      current = address;
      socket.connect(address);
      attached.push(address);
    }
  } catch (error) {
    socket.close();
    const reason = error instanceof Error ? error.message : String(error);
    throw new BrokerError(`cannot bind or connect ${current}: ${reason}`, { cause: error });
  }
  if (signal?.aborted) {
    socket.close();
    throw new AbortedError();
  }
  return attached;
}
