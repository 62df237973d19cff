import { randomBytes } from 'node:crypto';
import type { NodeConnectionOptions } from '@nats-io/transport-node';
import {
  acceptsConnections,
  closeAfterEach,
  collect,
  expectRefusedWithoutLeaks,
  type LocalServer,
  label,
  readLabel,
  renderings,
  selfSignedCertificate,
  startLocalServer,
  uniqueTopic,
  within,
} from '@proxystream/contract-tests';
import { BrokerError, type Publisher, StoreError, type Subscriber } from '@proxystream/protocols';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
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

let secure: LocalServer;
let securePort: number;
let caFile: string;

beforeAll(async () => {
  for (const server of [TOKEN_SERVER, USER_SERVER]) {
    const [host, port] = server.replace(/^nats:\/\//, '').split(':');
    if (!(await acceptsConnections(Number(port), host))) {
      throw new Error(
        `no NATS with credentials at ${host}:${port}: start it with \`bash scripts/brokers.sh start nats_auth\``,
      );
    }
  }
  secure = await startLocalServer({
    command: 'nats-server',
    name: 'nats-server (TLS)',
    async args({ port, directory }) {
      const { certFile, keyFile } = await selfSignedCertificate(directory);
      caFile = certFile;
      return [
        '-js',
        '-sd',
        `${directory}/js`,
        '-a',
        '127.0.0.1',
        '-p',
        String(port),
        '--user',
        'streamer',
        '--pass',
        SECRET,
        '--tls',
        '--tlscert',
        certFile,
        '--tlskey',
        keyFile,
      ];
    },
  });
  securePort = secure.port;
});

afterAll(() => secure?.stop());

const { defer } = closeAfterEach();

async function roundTrip(publisher: Publisher, subscriber: Subscriber, topic: string) {
  defer(
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
    const subscriber = await NatsSubscriber.create(topic, {
      connection: { servers, ...connectOptions },
    });
    const publisher = await NatsPublisher.create({ connection: { servers, ...connectOptions } });
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
      await expectRefusedWithoutLeaks(
        () =>
          within(
            Promise.all([
              NatsSubscriber.create(uniqueTopic('auth'), {
                connection: { servers, ...connectOptions },
              }).catch((e: unknown) => e),
              NatsPublisher.create({ connection: { servers, ...connectOptions } }).catch(
                (e: unknown) => e,
              ),
            ]),
            30_000,
            'connecting without credentials',
          ),
        {
          error: BrokerError,
          reason: /authorization violation/i,
          secrets: [WRONG, SECRET],
        },
      );
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
      connection: { servers: servers(), ...connectOptions() },
      name: stream.stream,
      subjectPrefix: stream.subjectPrefix,
    });
    const topic = uniqueTopic('auth');
    const options = { connection: { servers: servers(), ...connectOptions() }, ...stream };
    const subscriber = await JetStreamSubscriber.create(topic, { ...options, group: 'auth' });
    const publisher = await JetStreamPublisher.create(options);
    await roundTrip(publisher, subscriber, topic);
  });

  it('without the CA the TLS handshake fails with BrokerError', async () => {
    const error = await within(
      JetStreamPublisher.create({
        connection: { servers: servers(), user: 'streamer', pass: SECRET, tls: {} },
        ...stream,
      }).catch((e: unknown) => e),
      30_000,
      'connecting without the CA',
    );
    expect(error).toBeInstanceOf(BrokerError);
    expect(renderings(error)).not.toContain(SECRET);
  });

  it('the object store works with credentials; its config holds none, even from a URL with a password, and the factory brings its own', async () => {
    const store = await NatsObjectStore.create({
      connection: {
        servers: `nats://streamer:${encodeURIComponent(SECRET)}@127.0.0.1:${securePort}`,
        ...connectOptions(),
      },
      bucket: 'credentials',
      create: {},
    });
    defer(() => store.close());
    const key = await store.put(label('stored'));
    const config = store.config();
    expect(renderings(config)).not.toContain(SECRET);
    expect(config.servers).toEqual([`nats://127.0.0.1:${securePort}`]);
    const factory = new NatsObjectStoreFactory({
      allowedServers: [servers()],
      connection: connectOptions(),
    });
    const reopened = await factory.open(JSON.parse(JSON.stringify(config)));
    defer(() => reopened.close());
    expect(readLabel((await reopened.get(key))!)).toBe('stored');
  });

  it('a factory without credentials fails to open with StoreError, and echoes no secret', async () => {
    const factory = new NatsObjectStoreFactory({
      allowedServers: [servers()],
      connection: { user: 'streamer', pass: WRONG, tls: { caFile } },
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
