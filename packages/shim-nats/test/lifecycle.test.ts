import { randomBytes } from 'node:crypto';
import { connect } from '@nats-io/transport-node';
import {
  collect,
  connectionTrap,
  label,
  labels,
  readLabel,
  uniqueTopic,
  waitFor,
  within,
} from '@proxystream/contract-tests';
import { AbortedError, InvalidArgumentError, MessagesLostError } from '@proxystream/protocols';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  JetStreamPublisher,
  JetStreamSubscriber,
  NatsObjectStore,
  NatsObjectStoreFactory,
  NatsPublisher,
  NatsSubscriber,
} from '../src/index.js';
import { TEST_BUCKET } from './suites/object-store.js';
import { ensureTestStream, NATS_URL, TEST_STREAM } from './support.js';

const caught = (promise: Promise<unknown>) =>
  promise.then(
    () => undefined,
    (error: unknown) => error,
  );

/** The shim factories, each given its connection settings and a signal. */
const factories = {
  NatsPublisher: (connection: object, signal: AbortSignal) =>
    NatsPublisher.create({ connection, signal }),
  NatsSubscriber: (connection: object, signal: AbortSignal) =>
    NatsSubscriber.create(uniqueTopic('abort'), { connection, signal }),
  JetStreamPublisher: (connection: object, signal: AbortSignal) =>
    JetStreamPublisher.create({ connection, signal, ...TEST_STREAM }),
  JetStreamSubscriber: (connection: object, signal: AbortSignal) =>
    JetStreamSubscriber.create(uniqueTopic('abort'), {
      connection,
      signal,
      ...TEST_STREAM,
      group: 'abort',
    }),
  NatsObjectStore: (connection: object, signal: AbortSignal) =>
    NatsObjectStore.create({ connection, signal, bucket: TEST_BUCKET }),
};

/** Connections the local server has open under `name` (its monitoring port, 8222). */
async function connectionsNamed(name: string): Promise<number> {
  const connz = (await fetch('http://127.0.0.1:8222/connz?limit=4096').then((r) => r.json())) as {
    connections: { name?: string }[];
  };
  return connz.connections.filter((connection) => connection.name === name).length;
}

const monitored = ['127.0.0.1', 'localhost', ''].includes(new URL(NATS_URL).hostname);

beforeAll(ensureTestStream);

describe('the pre-aborted rule', () => {
  for (const [name, create] of Object.entries(factories)) {
    it(`${name}.create with an aborted signal rejects with AbortedError and connects nowhere`, async () => {
      const trap = await connectionTrap();
      try {
        const error = await caught(
          create({ servers: `127.0.0.1:${trap.port}` }, AbortSignal.abort()),
        );
        expect(error).toBeInstanceOf(AbortedError);
        expect(trap.connections()).toBe(0);
      } finally {
        await trap.close();
      }
    });

    it.runIf(monitored)(
      `${name}.create whose signal aborts while it connects rejects with AbortedError and leaves no connection open`,
      async () => {
        const connectionName = `abort-${randomBytes(6).toString('hex')}`;
        const controller = new AbortController();
        const creating = caught(
          create({ servers: NATS_URL, name: connectionName }, controller.signal),
        );
        controller.abort();
        expect(await creating).toBeInstanceOf(AbortedError);
        let open = await connectionsNamed(connectionName);
        const deadline = Date.now() + 5_000;
        while (open > 0 && Date.now() < deadline) {
          await new Promise((resolve) => setTimeout(resolve, 50));
          open = await connectionsNamed(connectionName);
        }
        expect(open).toBe(0);
      },
    );
  }

  it('a signal aborted later ends the iteration like close()', async () => {
    const controller = new AbortController();
    const subscriber = await NatsSubscriber.create(uniqueTopic('abort'), {
      connection: { servers: NATS_URL },
      signal: controller.signal,
    });
    const pending = subscriber.next();
    controller.abort();
    expect(await within(pending, 5_000, 'next() after abort')).toEqual({
      done: true,
      value: undefined,
    });
  });
});

describe('Symbol.asyncDispose', () => {
  it('await using closes publishers, subscribers and the store, never a caller connection', async () => {
    const nc = await connect({ servers: NATS_URL });
    const topic = uniqueTopic('dispose');
    let closedSubscriber: NatsSubscriber;
    let closedStore: NatsObjectStore;
    {
      await using subscriber = await NatsSubscriber.create(topic, { connection: nc });
      await using publisher = await NatsPublisher.create({ connection: nc });
      await using jsPublisher = await JetStreamPublisher.create({ connection: nc, ...TEST_STREAM });
      await using jsSubscriber = await JetStreamSubscriber.create(topic, {
        connection: nc,
        ...TEST_STREAM,
      });
      await using store = await NatsObjectStore.create({ connection: nc, bucket: TEST_BUCKET });
      closedSubscriber = subscriber;
      closedStore = store;
      await publisher.send(topic, label('disposed'));
      await jsPublisher.send(topic, label('stored'));
      expect((await collect(subscriber, 1)).map(readLabel)).toEqual(['disposed']);
      expect((await collect(jsSubscriber, 1)).map(readLabel)).toEqual(['stored']);
    }
    try {
      expect(closedSubscriber.closed).toBe(true);
      await expect(closedStore.put(label('x'))).rejects.toThrow();
      expect(nc.isClosed()).toBe(false);
    } finally {
      await nc.close();
    }
  });
});

describe('the connection option', () => {
  it('NatsObjectStoreFactory refuses connection settings that name servers', () => {
    expect(
      () =>
        new NatsObjectStoreFactory({
          allowedServers: [NATS_URL],
          connection: { servers: NATS_URL } as never,
        }),
    ).toThrow(InvalidArgumentError);
  });

  it('options are checked before connecting', async () => {
    const trap = await connectionTrap();
    try {
      const connection = { servers: `127.0.0.1:${trap.port}` };
      for (const attempt of [
        NatsPublisher.create({ connection, maxInFlightMessages: 0 }),
        NatsSubscriber.create('t', { connection, maxBufferedBytes: -1 }),
        JetStreamPublisher.create({ connection, maxInFlightBytes: 1.5 }),
        JetStreamSubscriber.create('t', { connection, start: 'later' as never }),
        NatsObjectStore.create({ connection, bucket: 'b', chunkSize: 0 }),
      ]) {
        expect(await caught(attempt)).toBeInstanceOf(InvalidArgumentError);
      }
      expect(trap.connections()).toBe(0);
    } finally {
      await trap.close();
    }
  });
});

describe('core NATS onLoss', () => {
  it('is called once when drops begin, and next() still rejects at the place of the loss', async () => {
    const topic = uniqueTopic('on-loss');
    const nc = await connect({ servers: NATS_URL });
    const reported: MessagesLostError[] = [];
    const subscriber = await NatsSubscriber.create(topic, {
      connection: nc,
      maxBufferedMessages: 3,
      onLoss: (error) => reported.push(error),
    });
    const publisher = await NatsPublisher.create({ connection: nc });
    try {
      for (const item of labels('m', 6)) await publisher.send(topic, label(item));
      await publisher.close();
      await nc.flush();
      expect(await waitFor(() => reported.length > 0, 5_000)).toBe(true);
      expect(reported).toHaveLength(1);
      expect(reported[0]).toBeInstanceOf(MessagesLostError);
      expect((await collect(subscriber, 3)).map(readLabel)).toEqual(labels('m', 3));
      expect(await caught(subscriber.next())).toBeInstanceOf(MessagesLostError);
    } finally {
      await subscriber.close();
      await nc.close();
    }
  });
});

describe('JetStream start', () => {
  let nc: Awaited<ReturnType<typeof connect>>;
  beforeAll(async () => {
    nc = await connect({ servers: NATS_URL });
  });
  afterAll(() => nc.close());

  it("'now' reads only what is stored after the subscriber was created, with and without a group; the default reads from the beginning", async () => {
    const topic = uniqueTopic('start');
    const publisher = await JetStreamPublisher.create({ connection: nc, ...TEST_STREAM });
    try {
      for (const item of labels('old', 2)) await publisher.send(topic, label(item));
      const options = { connection: nc, ...TEST_STREAM };
      const fromNow = await JetStreamSubscriber.create(topic, { ...options, start: 'now' });
      const groupNow = await JetStreamSubscriber.create(topic, {
        ...options,
        start: 'now',
        group: 'now',
      });
      const fromStart = await JetStreamSubscriber.create(topic, options);
      await publisher.send(topic, label('new'));
      try {
        expect((await collect(fromNow, 1)).map(readLabel)).toEqual(['new']);
        expect((await collect(groupNow, 1)).map(readLabel)).toEqual(['new']);
        expect((await collect(fromStart, 3)).map(readLabel)).toEqual(['old-0', 'old-1', 'new']);
        await groupNow.ack();
      } finally {
        await Promise.all([fromNow.close(), groupNow.close(), fromStart.close()]);
      }
      // An existing group goes on where it stopped, whatever `start` says.
      await publisher.send(topic, label('later'));
      const again = await JetStreamSubscriber.create(topic, {
        ...options,
        start: 'beginning',
        group: 'now',
      });
      try {
        expect((await collect(again, 1)).map(readLabel)).toEqual(['later']);
      } finally {
        await again.close();
      }
    } finally {
      await publisher.close();
    }
  });
});
