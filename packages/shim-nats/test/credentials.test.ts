import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { connect as connectTcp, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inspect, promisify } from 'node:util';
import type { NodeConnectionOptions } from '@nats-io/transport-node';
import { collect, label, readLabel, uniqueTopic, within } from '@proxystream/contract-tests';
import { BrokerError, type Publisher, StoreError, type Subscriber } from '@proxystream/protocols';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import {
  ensureStream,
  JetStreamPublisher,
  JetStreamSubscriber,
  NatsObjectStore,
  NatsObjectStoreFactory,
  NatsPublisher,
  NatsSubscriber,
} from '../src/index.js';

// The servers `bash scripts/brokers.sh start nats_auth` runs: a token on 4223, the user
// `streamer` on 4224, both with PROXYSTREAM_TEST_SECRET. JetStream and TLS are tested on a
// server of this file's own (-js, --user, --tls with a certificate made here by openssl).
const SECRET = process.env.PROXYSTREAM_TEST_SECRET ?? 's3cret-for-tests';
const TOKEN_SERVER = process.env.NATS_TOKEN_URL ?? '127.0.0.1:4223';
const USER_SERVER = process.env.NATS_USER_URL ?? '127.0.0.1:4224';
/** A wrong password: must never be echoed either. */
const WRONG = `wrong-${randomBytes(6).toString('hex')}`;
type ConnectOptions = Omit<NodeConnectionOptions, 'servers'>;

/** Every rendering of `value` a log line or a report could hold, cause chain included. */
function renderings(value: unknown): string {
  const parts = [String(value), inspect(value, { depth: 8 })];
  try {
    parts.push(JSON.stringify(value));
  } catch {
    // Circular: inspect covers it.
  }
  for (let error = value; error instanceof Error; error = error.cause) {
    parts.push(error.message, error.stack ?? '');
  }
  return parts.join('\n');
}

/** Captures what the code under test writes to stdout, stderr and the console. */
function captureOutput(): () => string {
  const written: string[] = [];
  const record = (chunk: unknown) => {
    written.push(String(chunk));
    return true;
  };
  const spies = [
    vi.spyOn(process.stderr, 'write').mockImplementation(record),
    vi.spyOn(process.stdout, 'write').mockImplementation(record),
    ...(['log', 'info', 'warn', 'error', 'debug'] as const).map((method) =>
      vi.spyOn(console, method).mockImplementation((...args) => void written.push(args.join(' '))),
    ),
  ];
  return () => {
    for (const spy of spies) spy.mockRestore();
    return written.join('\n');
  };
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as { port: number };
      probe.close(() => resolve(port));
    });
  });
}

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connectTcp(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

let directory: string;
let secure: ChildProcess | undefined;
let securePort: number;
let caFile: string;

beforeAll(async () => {
  for (const server of [TOKEN_SERVER, USER_SERVER]) {
    const [host, port] = server.replace(/^nats:\/\//, '').split(':');
    if (!(await accepts(Number(port)))) {
      throw new Error(
        `no NATS with credentials at ${host}:${port}: start it with \`bash scripts/brokers.sh start nats_auth\``,
      );
    }
  }
  directory = await mkdtemp(join(tmpdir(), 'proxystream-nats-credentials-'));
  caFile = join(directory, 'cert.pem');
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
    caFile,
    '-days',
    '1',
    '-subj',
    '/CN=127.0.0.1',
    '-addext',
    'subjectAltName=IP:127.0.0.1,DNS:localhost',
  ]);
  securePort = await freePort();
  secure = spawn(
    'nats-server',
    [
      '-js',
      '-sd',
      join(directory, 'js'),
      '-a',
      '127.0.0.1',
      '-p',
      String(securePort),
      '--user',
      'streamer',
      '--pass',
      SECRET,
      '--tls',
      '--tlscert',
      caFile,
      '--tlskey',
      keyFile,
    ],
    { stdio: 'ignore' },
  );
  const deadline = Date.now() + 30_000;
  while (!(await accepts(securePort))) {
    if (secure.exitCode !== null) throw new Error(`nats-server exited with ${secure.exitCode}`);
    if (Date.now() > deadline) throw new Error('nats-server (TLS) did not start within 30 s');
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
});

afterAll(async () => {
  if (secure !== undefined && secure.exitCode === null && secure.signalCode === null) {
    const exited = new Promise((resolve) => secure!.once('exit', resolve));
    secure.kill('SIGTERM');
    await within(exited, 10_000, 'nats-server exit');
  }
  await rm(directory, { recursive: true, force: true });
});

const cleanup: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  await within(
    Promise.all(cleanup.splice(0).map((step) => step().catch(() => {}))),
    30_000,
    'cleanup',
  );
});

async function roundTrip(publisher: Publisher, subscriber: Subscriber, topic: string) {
  cleanup.push(
    () => subscriber.close(),
    () => publisher.close(),
  );
  await publisher.send(topic, label('hello'));
  const [message] = await collect(subscriber, 1);
  expect(readLabel(message!)).toBe('hello');
}

describe('core NATS with credentials', () => {
  it.each([
    ['a token', TOKEN_SERVER, { token: SECRET }],
    ['a user and password', USER_SERVER, { user: 'streamer', pass: SECRET }],
  ] as const)('connects with %s and carries messages', async (_what, servers, connectOptions) => {
    const topic = uniqueTopic('auth');
    const subscriber = await NatsSubscriber.create(topic, { servers, connectOptions });
    const publisher = await NatsPublisher.connect({ servers, connectOptions });
    await roundTrip(publisher, subscriber, topic);
  });

  it.each([
    ['no token', TOKEN_SERVER, {}],
    ['a wrong token', TOKEN_SERVER, { token: WRONG }],
    ['no password', USER_SERVER, {}],
    ['a wrong password', USER_SERVER, { user: 'streamer', pass: WRONG }],
    ['a wrong password in the server URL', `nats://streamer:${WRONG}@${USER_SERVER}`, {}],
  ] as const)(
    'with %s, connecting fails at once with BrokerError saying why, and echoes no secret',
    async (_what, servers, connectOptions: ConnectOptions) => {
      const output = captureOutput();
      let logged = '';
      try {
        const outcomes = await within(
          Promise.all([
            NatsSubscriber.create(uniqueTopic('auth'), { servers, connectOptions }).catch(
              (e: unknown) => e,
            ),
            NatsPublisher.connect({ servers, connectOptions }).catch((e: unknown) => e),
          ]),
          30_000,
          'connecting without credentials',
        );
        for (const error of outcomes) {
          expect(error).toBeInstanceOf(BrokerError);
          expect((error as BrokerError).message).toMatch(/authorization violation/i);
          expect(renderings(error)).not.toContain(WRONG);
          expect(renderings(error)).not.toContain(SECRET);
        }
      } finally {
        logged = output();
      }
      expect(logged).not.toContain(WRONG);
    },
  );
});

describe('JetStream and the object store with a user, a password and TLS', () => {
  const servers = () => `127.0.0.1:${securePort}`;
  const connectOptions = (): ConnectOptions => ({
    user: 'streamer',
    pass: SECRET,
    tls: { caFile },
  });
  const stream = { stream: 'CREDENTIALS', subjectPrefix: 'credentials' } as const;

  it('JetStream connects through TLS with credentials and carries messages', async () => {
    await ensureStream({
      servers: servers(),
      connectOptions: connectOptions(),
      name: stream.stream,
      subjectPrefix: stream.subjectPrefix,
    });
    const topic = uniqueTopic('auth');
    const options = { servers: servers(), connectOptions: connectOptions(), ...stream };
    const subscriber = await JetStreamSubscriber.create(topic, { ...options, group: 'auth' });
    const publisher = await JetStreamPublisher.connect(options);
    await roundTrip(publisher, subscriber, topic);
  });

  it('without the CA the TLS handshake fails with BrokerError', async () => {
    const error = await within(
      JetStreamPublisher.connect({
        servers: servers(),
        connectOptions: { user: 'streamer', pass: SECRET, tls: {} },
        ...stream,
      }).catch((e: unknown) => e),
      30_000,
      'connecting without the CA',
    );
    expect(error).toBeInstanceOf(BrokerError);
    expect(renderings(error)).not.toContain(SECRET);
  });

  it('the object store works with credentials; its config holds none, even from a URL with a password, and the factory brings its own', async () => {
    const store = await NatsObjectStore.open({
      servers: `nats://streamer:${encodeURIComponent(SECRET)}@127.0.0.1:${securePort}`,
      connectOptions: connectOptions(),
      bucket: 'credentials',
      create: {},
    });
    cleanup.push(() => store.close());
    const key = await store.put(label('stored'));
    const config = store.config();
    expect(renderings(config)).not.toContain(SECRET);
    expect(config.servers).toEqual([`nats://127.0.0.1:${securePort}`]);
    const factory = new NatsObjectStoreFactory({
      allowedServers: [servers()],
      connectOptions: connectOptions(),
    });
    const reopened = await factory.open(JSON.parse(JSON.stringify(config)));
    cleanup.push(() => reopened.close());
    expect(readLabel((await reopened.get(key))!)).toBe('stored');
  });

  it('a factory without credentials fails to open with StoreError, and echoes no secret', async () => {
    const factory = new NatsObjectStoreFactory({
      allowedServers: [servers()],
      connectOptions: { user: 'streamer', pass: WRONG, tls: { caFile } },
    });
    const error = await within(
      factory
        .open({
          kind: 'nats-object',
          name: 'credentials',
          bucket: 'credentials',
          servers: [servers()],
        })
        .catch((e: unknown) => e),
      30_000,
      'opening with a wrong password',
    );
    expect(error).toBeInstanceOf(StoreError);
    expect(renderings(error)).not.toContain(WRONG);
  });
});
