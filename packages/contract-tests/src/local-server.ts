import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { connect, createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { within } from './helpers.js';

/** A TCP port on 127.0.0.1 that nothing listened on a moment ago. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as { port: number };
      probe.close(() => resolve(port));
    });
  });
}

/** Whether something accepts TCP connections on `127.0.0.1:port` (or `host:port`). */
export function acceptsConnections(port: number, host = '127.0.0.1'): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, host);
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

/** Where {@link LocalServerOptions.args} may put the server's files. */
export interface LocalServerPlace {
  /** The port the server must listen on. */
  port: number;
  /** A new temporary directory, removed by {@link LocalServer.stop}. */
  directory: string;
}

/** Options of {@link startLocalServer}. */
export interface LocalServerOptions {
  /** The executable: `redis-server`, `nats-server`, … */
  command: string;
  /** Its arguments; may first write files (certificates, configs) into `directory`. */
  args(place: LocalServerPlace): string[] | Promise<string[]>;
  /** Names the server in errors. Default `command`. */
  name?: string;
  /**
   * Whether the server is ready; polled every 50 ms. Default: it accepts TCP connections on its
   * port. A probe that speaks the protocol (PING) belongs to the shim's own tests.
   */
  ready?(port: number): Promise<boolean>;
  /** Longest wait for readiness, in ms. Default 30 000. */
  startTimeoutMs?: number;
}

/** A broker process of a test file's own, on a free port: killing it disturbs no shared broker. */
export interface LocalServer {
  /** Its port on 127.0.0.1. */
  readonly port: number;
  /** Its temporary directory. */
  readonly directory: string;
  /** The process. */
  readonly process: ChildProcess;
  /** Sends `signal` (default `SIGKILL`) and resolves once the process exited; no-op when it has. */
  kill(signal?: NodeJS.Signals): Promise<void>;
  /** Kills the process (with `signal`, default `SIGTERM`) and removes its directory. */
  stop(signal?: NodeJS.Signals): Promise<void>;
}

/**
 * Starts a broker of the test file's own on a free port of 127.0.0.1, in a new temporary
 * directory, and resolves once {@link LocalServerOptions.ready} holds.
 * @throws Error when the process exits or is not ready within `startTimeoutMs`.
 *
 * @example
 * ```ts
 * let server: LocalServer;
 * beforeAll(async () => {
 *   server = await startLocalServer({
 *     command: 'nats-server',
 *     args: ({ port, directory }) => ['-js', '-a', '127.0.0.1', '-p', String(port), '-sd', directory],
 *   });
 * });
 * afterAll(() => server.stop());
 * ```
 */
export async function startLocalServer(options: LocalServerOptions): Promise<LocalServer> {
  const name = options.name ?? options.command;
  const port = await freePort();
  const directory = await mkdtemp(join(tmpdir(), `proxystream-${options.command}-`));
  const args = await options.args({ port, directory });
  const child = spawn(options.command, args, { cwd: directory, stdio: 'ignore' });
  let failure: Error | undefined;
  child.once('error', (error) => {
    failure = error;
  });
  const exited = () => child.exitCode !== null || child.signalCode !== null;
  const kill = async (signal: NodeJS.Signals = 'SIGKILL') => {
    if (exited() || failure !== undefined) return;
    const gone = new Promise((resolve) => child.once('exit', resolve));
    child.kill(signal);
    await within(gone, 10_000, `${name} exit`);
  };
  const server: LocalServer = {
    port,
    directory,
    process: child,
    kill,
    async stop(signal = 'SIGTERM') {
      await kill(signal);
      await rm(directory, { recursive: true, force: true });
    },
  };
  const ready = options.ready ?? ((p: number) => acceptsConnections(p));
  const deadline = Date.now() + (options.startTimeoutMs ?? 30_000);
  for (;;) {
    const answered = await ready(port).catch(() => false);
    if (answered) return server;
    if (failure !== undefined || exited()) {
      await server.stop();
      throw new Error(`${name} exited with ${child.exitCode ?? child.signalCode}`, {
        cause: failure,
      });
    }
    if (Date.now() > deadline) {
      await server.stop('SIGKILL');
      throw new Error(`${name} did not start within ${options.startTimeoutMs ?? 30_000} ms`);
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** Files of {@link selfSignedCertificate}. */
export interface CertificateFiles {
  /** The certificate (PEM), also the CA a client trusts. */
  certFile: string;
  /** Its private key (PEM). */
  keyFile: string;
}

/**
 * Makes a self-signed P-256 certificate for 127.0.0.1 and localhost, valid one day, with
 * `openssl` (which must be installed), as `cert.pem` and `key.pem` in `directory`.
 */
export async function selfSignedCertificate(directory: string): Promise<CertificateFiles> {
  const certFile = join(directory, 'cert.pem');
  const keyFile = join(directory, 'key.pem');
  await promisify(execFile)('openssl', [
    'req',
    '-x509',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:prime256v1',
    '-nodes',
    '-keyout',
    keyFile,
    '-out',
    certFile,
    '-days',
    '1',
    '-subj',
    '/CN=127.0.0.1',
    '-addext',
    'subjectAltName=IP:127.0.0.1,DNS:localhost',
  ]);
  return { certFile, keyFile };
}

/** A TCP listener that only counts the connections made to it; see {@link connectionTrap}. */
export interface ConnectionTrap {
  /** Its port on 127.0.0.1. */
  readonly port: number;
  /** Connections accepted so far. */
  connections(): number;
  /** Drops every connection and stops listening. */
  close(): Promise<void>;
}

/**
 * Listens on a free port of 127.0.0.1 and counts the connections made to it: a server that a
 * store config from the wire may name and that nothing may reach (a factory that refuses the
 * config must leave the count at 0).
 */
export async function connectionTrap(): Promise<ConnectionTrap> {
  let connections = 0;
  const sockets = new Set<Socket>();
  const server = createServer((socket) => {
    connections++;
    sockets.add(socket);
    socket.on('error', () => {});
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as { port: number }).port,
    connections: () => connections,
    close: () =>
      new Promise((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}
